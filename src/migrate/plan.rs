//! Pure verification and planning, modelled on refinery's `verify_migrations`: from
//! the history rows and the local files, decide each version's state (applied,
//! pending, divergent, missing) and what `migrate` would run. No database here.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::source::MigrationSet;
use super::version::Version;

/// One applied migration as the history records it (refinery's table, or Supabase's
/// with dbkit's checksum beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub version: Version,
    pub name: String,
    /// RFC 3339 text; None for a Supabase row dbkit did not write.
    pub applied_on: Option<String>,
    /// The checksum as text, kept raw so a foreign value still compares; None for a
    /// Supabase row dbkit did not write (only its name can be compared).
    pub checksum: Option<String>,
}

/// A version's state: the file against the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded, and the file is unchanged.
    Applied,
    /// A file not yet recorded.
    Pending,
    /// Recorded, but the file's name or checksum differs from what was applied.
    Divergent,
    /// Recorded, but no file has that version any more.
    Missing,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Divergent => "divergent",
            State::Missing => "missing",
        })
    }
}

/// One line of `migrate status`; serialises to the documented JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    pub version: Version,
    pub name: String,
    pub state: State,
    pub applied_on: Option<String>,
}

/// Every version known to the files or the history, in order.
pub fn status(set: &MigrationSet, history: &[HistoryRow]) -> Vec<StatusRow> {
    let versions: BTreeSet<Version> = set
        .migrations
        .iter()
        .map(|m| m.version)
        .chain(history.iter().map(|h| h.version))
        .collect();
    versions
        .into_iter()
        .map(|version| {
            let file = set.get(version);
            let row = history.iter().find(|h| h.version == version);
            match (file, row) {
                (Some(file), Some(row)) => StatusRow {
                    version,
                    name: file.name.clone(),
                    state: if row.name == file.name
                        && row.checksum.as_ref().is_none_or(|c| *c == file.checksum)
                    {
                        State::Applied
                    } else {
                        State::Divergent
                    },
                    applied_on: row.applied_on.clone(),
                },
                (Some(file), None) => StatusRow {
                    version,
                    name: file.name.clone(),
                    state: State::Pending,
                    applied_on: None,
                },
                (None, Some(row)) => StatusRow {
                    version,
                    name: row.name.clone(),
                    state: State::Missing,
                    applied_on: row.applied_on.clone(),
                },
                (None, None) => unreachable!("version comes from one of the two lists"),
            }
        })
        .collect()
}

/// What `migrate` should do, or why it must not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Apply these versions, in this order (possibly none).
    Apply {
        /// Highest applied version before the run (None: nothing applied).
        current: Option<Version>,
        versions: Vec<Version>,
    },
    /// Refuse to run anything.
    Refuse(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Applied files that were edited (version, name as recorded).
    Divergent(Vec<(Version, String)>),
    /// Applied versions whose file is gone.
    Missing(Vec<(Version, String)>),
    /// Pending files older than the newest applied version (refinery refuses them too).
    OutOfOrder {
        versions: Vec<Version>,
        current: Version,
    },
    /// `--target` names no local migration.
    UnknownTarget {
        target: Version,
        latest: Option<Version>,
    },
}

/// Decide what to run up to `target` (all pending when `None`).
pub fn plan(set: &MigrationSet, history: &[HistoryRow], target: Option<Version>) -> Plan {
    let rows = status(set, history);
    let pick = |state: State| -> Vec<(Version, String)> {
        rows.iter()
            .filter(|r| r.state == state)
            .map(|r| (r.version, r.name.clone()))
            .collect()
    };
    let divergent = pick(State::Divergent);
    if !divergent.is_empty() {
        return Plan::Refuse(Refusal::Divergent(divergent));
    }
    let missing = pick(State::Missing);
    if !missing.is_empty() {
        return Plan::Refuse(Refusal::Missing(missing));
    }
    let current = history.iter().map(|h| h.version).max();
    let pending: Vec<Version> = pick(State::Pending).into_iter().map(|(v, _)| v).collect();
    if let Some(current) = current {
        let old: Vec<Version> = pending.iter().copied().filter(|&v| v < current).collect();
        if !old.is_empty() {
            return Plan::Refuse(Refusal::OutOfOrder {
                versions: old,
                current,
            });
        }
    }
    if let Some(target) = target {
        if set.get(target).is_none() {
            return Plan::Refuse(Refusal::UnknownTarget {
                target,
                latest: set.latest(),
            });
        }
    }
    let versions = pending
        .into_iter()
        .filter(|&v| target.is_none_or(|t| v <= t))
        .collect();
    Plan::Apply { current, versions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::layout::Layout;
    use crate::migrate::source::{MigrationFile, Origin};

    fn set(files: &[(&str, &str)]) -> MigrationSet {
        let migrations = files
            .iter()
            .map(|(f, sql)| {
                MigrationFile::new(Layout::Dbkit, f, format!("m/{f}"), sql.to_string()).unwrap()
            })
            .collect();
        MigrationSet::checked(Origin::Embedded, Layout::Dbkit, migrations).unwrap()
    }

    fn v(n: i64) -> Version {
        Version::new(n)
    }

    fn vs(ns: &[i64]) -> Vec<Version> {
        ns.iter().map(|&n| v(n)).collect()
    }

    fn three() -> MigrationSet {
        set(&[
            ("V1__one.sql", "SELECT 1;"),
            ("V2__two.sql", "SELECT 2;"),
            ("V3__three.sql", "SELECT 3;"),
        ])
    }

    fn applied(set: &MigrationSet, versions: &[i64]) -> Vec<HistoryRow> {
        versions
            .iter()
            .map(|&n| {
                let m = set.get(v(n)).unwrap();
                HistoryRow {
                    version: v(n),
                    name: m.name.clone(),
                    applied_on: Some("2026-01-01T00:00:00Z".into()),
                    checksum: Some(m.checksum.clone()),
                }
            })
            .collect()
    }

    fn states(rows: &[StatusRow]) -> Vec<(i64, State)> {
        rows.iter().map(|r| (r.version.get(), r.state)).collect()
    }

    #[test]
    fn empty_history_is_all_pending() {
        let s = three();
        assert_eq!(
            states(&status(&s, &[])),
            vec![
                (1, State::Pending),
                (2, State::Pending),
                (3, State::Pending)
            ]
        );
        assert_eq!(
            plan(&s, &[], None),
            Plan::Apply {
                current: None,
                versions: vs(&[1, 2, 3])
            }
        );
    }

    #[test]
    fn partly_applied_runs_the_rest() {
        let s = three();
        let h = applied(&s, &[1]);
        let rows = status(&s, &h);
        assert_eq!(rows[0].applied_on.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(rows[1].applied_on, None);
        assert_eq!(
            plan(&s, &h, None),
            Plan::Apply {
                current: Some(v(1)),
                versions: vs(&[2, 3])
            }
        );
    }

    #[test]
    fn up_to_date_has_nothing_to_do() {
        let s = three();
        let h = applied(&s, &[1, 2, 3]);
        assert!(status(&s, &h).iter().all(|r| r.state == State::Applied));
        assert_eq!(
            plan(&s, &h, None),
            Plan::Apply {
                current: Some(v(3)),
                versions: vs(&[])
            }
        );
    }

    #[test]
    fn target_stops_early_and_never_goes_back() {
        let s = three();
        assert_eq!(
            plan(&s, &[], Some(v(2))),
            Plan::Apply {
                current: None,
                versions: vs(&[1, 2])
            }
        );
        let h = applied(&s, &[1, 2, 3]);
        assert_eq!(
            plan(&s, &h, Some(v(1))),
            Plan::Apply {
                current: Some(v(3)),
                versions: vs(&[])
            }
        );
    }

    #[test]
    fn unknown_target_is_refused() {
        assert_eq!(
            plan(&three(), &[], Some(v(9))),
            Plan::Refuse(Refusal::UnknownTarget {
                target: v(9),
                latest: Some(v(3))
            })
        );
    }

    #[test]
    fn edited_file_is_divergent() {
        let s = three();
        let h = applied(&s, &[1, 2]);
        let edited = set(&[
            ("V1__one.sql", "SELECT 1;"),
            ("V2__two.sql", "SELECT 22;"),
            ("V3__three.sql", "SELECT 3;"),
        ]);
        assert_eq!(
            states(&status(&edited, &h)),
            vec![
                (1, State::Applied),
                (2, State::Divergent),
                (3, State::Pending)
            ]
        );
        assert_eq!(
            plan(&edited, &h, None),
            Plan::Refuse(Refusal::Divergent(vec![(v(2), "two".into())]))
        );
    }

    #[test]
    fn renamed_file_is_divergent() {
        let s = three();
        let h = applied(&s, &[1]);
        let renamed = set(&[("V1__uno.sql", "SELECT 1;")]);
        assert_eq!(states(&status(&renamed, &h)), vec![(1, State::Divergent)]);
    }

    #[test]
    fn deleted_file_is_missing() {
        let s = three();
        let h = applied(&s, &[1, 2]);
        let without_two = set(&[("V1__one.sql", "SELECT 1;"), ("V3__three.sql", "SELECT 3;")]);
        let rows = status(&without_two, &h);
        assert_eq!(
            states(&rows),
            vec![
                (1, State::Applied),
                (2, State::Missing),
                (3, State::Pending)
            ]
        );
        assert_eq!(rows[1].name, "two");
        assert_eq!(
            plan(&without_two, &h, None),
            Plan::Refuse(Refusal::Missing(vec![(v(2), "two".into())]))
        );
    }

    #[test]
    fn pending_below_current_is_out_of_order() {
        let s = set(&[
            ("V1__one.sql", "SELECT 1;"),
            ("V2__two.sql", "SELECT 2;"),
            ("V3__three.sql", "SELECT 3;"),
        ]);
        let h = applied(&s, &[1, 3]);
        assert_eq!(
            plan(&s, &h, None),
            Plan::Refuse(Refusal::OutOfOrder {
                versions: vs(&[2]),
                current: v(3)
            })
        );
    }

    #[test]
    fn status_serialises_to_the_documented_shape() {
        let s = three();
        let h = applied(&s, &[1]);
        let json = serde_json::to_value(&status(&s, &h)[..2]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"version": 1, "name": "one", "state": "applied", "applied_on": "2026-01-01T00:00:00Z"},
                {"version": 2, "name": "two", "state": "pending", "applied_on": null}
            ])
        );
    }
}
