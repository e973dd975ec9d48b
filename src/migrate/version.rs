//! `Version`: the one type of a migration's version. An i64 inside, so Supabase's
//! 14-digit timestamps (`20240101120000`) fit as well as `V7`. Conversions from other
//! integer types are lossless (`From`) or checked (`try_from` with an error naming
//! the value); there is no truncating cast anywhere.

use std::fmt;

use serde::Serialize;

use crate::error::hinted;

/// A migration version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(i64);

impl Version {
    pub const fn new(value: i64) -> Version {
        Version(value)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The version as refinery's int4 history stores it; an error for one that does
    /// not fit (refinery's tables are the dbkit layout's, whose versions are 32-bit).
    pub fn to_i32(self) -> anyhow::Result<i32> {
        i32::try_from(self.0).map_err(|_| {
            hinted(
                format!("version {} does not fit refinery's 32-bit history", self.0),
                "dbkit-layout versions (V<n>) go up to 2147483647",
            )
        })
    }

    /// The next version, or None past i64's end.
    pub fn checked_next(self) -> Option<Version> {
        self.0.checked_add(1).map(Version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for Version {
    type Err = String;

    /// A version as typed on the command line (`--target 3`, `--target 20240101120000`).
    fn from_str(raw: &str) -> Result<Version, String> {
        let raw = raw.trim();
        let raw = raw.strip_prefix(['V', 'v']).unwrap_or(raw);
        match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Version(v)),
            Ok(_) => Err("a version is not negative".into()),
            Err(_) => Err(format!(
                "`{raw}` is not a version (a whole number up to {})",
                i64::MAX
            )),
        }
    }
}

impl From<i64> for Version {
    fn from(v: i64) -> Version {
        Version(v)
    }
}

impl From<i32> for Version {
    fn from(v: i32) -> Version {
        Version(i64::from(v))
    }
}

impl From<u32> for Version {
    fn from(v: u32) -> Version {
        Version(i64::from(v))
    }
}

impl From<Version> for i64 {
    fn from(v: Version) -> i64 {
        v.0
    }
}

/// Comparing with a plain i64 (`--base 6` is one) reads as comparing versions.
impl PartialEq<i64> for Version {
    fn eq(&self, other: &i64) -> bool {
        self.0 == *other
    }
}

impl PartialOrd<i64> for Version {
    fn partial_cmp(&self, other: &i64) -> Option<std::cmp::Ordering> {
        Some(self.0.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_timestamps_fit() {
        let v: Version = "20240101120000".parse().unwrap();
        assert_eq!(v.get(), 20_240_101_120_000);
        assert!(v.to_i32().is_err());
        assert_eq!(v.to_string(), "20240101120000");
    }

    #[test]
    fn conversions_are_checked() {
        assert_eq!(Version::from(7i32).to_i32().unwrap(), 7);
        assert_eq!("V7".parse::<Version>().unwrap(), Version::new(7));
        assert!("99999999999999999999".parse::<Version>().is_err());
        assert!("-1".parse::<Version>().is_err());
        assert_eq!(Version::new(i64::MAX).checked_next(), None);
        let err = Version::new(i64::from(i32::MAX) + 1).to_i32().unwrap_err();
        assert!(err.to_string().contains("2147483648"), "{err}");
    }

    #[test]
    fn compares_with_plain_numbers() {
        assert!(Version::new(7) > 6);
        assert!(Version::new(6) == 6);
    }
}
