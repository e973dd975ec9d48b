//! The one redaction of secrets for everything dbkit displays. `url` hides a URL's
//! secrets (the userinfo password, and the value of every secret-looking query
//! parameter: `password`, `sslpassword`, …) and is what `DbUrl`'s `Display` shows;
//! `scrub` is applied to every error and hint: it removes each secret registered
//! while resolving a connection, and redacts any PostgreSQL URL written in the text.

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// What a hidden secret is shown as.
pub const HIDDEN: &str = "***";

/// Remember a secret (a password, raw or percent-encoded) so `scrub` removes it.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Replace every registered secret in `text` with `***`, and redact every
/// `postgres://` / `postgresql://` URL in it with `url`: for error messages, which
/// may quote what the user gave.
pub fn scrub(text: &str) -> String {
    redact_urls_in(&scrub_registered(text))
}

/// Replace every registered secret in `text` with `***`: for hints, which dbkit
/// writes itself (their example URLs, `user:password@host`, stay readable).
pub fn scrub_registered(text: &str) -> String {
    let mut out = text.to_string();
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), HIDDEN);
        }
    }
    out
}

/// Is a query parameter named `key` a secret? Any name with "password", "secret" or
/// "token" in it, whatever its case.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word))
        || key == "pass"
        || key == "pwd"
}

/// `raw` with its secrets hidden: `postgres://u:***@h/db?sslpassword=***&sslmode=require`.
/// Works on text that is not a valid URL too (an error quoting what was given).
pub fn url(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let (head, rest) = raw.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!("{}:{HIDDEN}{}", &authority[..colon], &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let (path, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let path = match path.split_once('?') {
        Some((before, query)) => format!("{before}?{}", redact_query(query)),
        None => path.to_string(),
    };
    format!("{head}{authority}{path}{fragment}")
}

/// The query with every secret parameter's value hidden; everything else as written.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_key(&decode(key)) => format!("{key}={HIDDEN}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-decoding (never `+` as space: libpq reads URLs that way).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every PostgreSQL URL in free text, redacted (it ends at whitespace or a quote).
fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .unwrap_or(tail.len());
        out.push_str(&url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    ["postgresql://", "postgres://"]
        .iter()
        .filter_map(|scheme| lower.find(scheme))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_registered_secrets_longest_first() {
        register("s3cr3t");
        register("s3cr3t-and-more");
        assert_eq!(scrub("a s3cr3t-and-more b s3cr3t"), "a *** b ***");
        assert_eq!(scrub("nothing here"), "nothing here");
    }

    #[test]
    fn urls_hide_the_userinfo_password_and_secret_parameters() {
        let cases = [
            (
                "postgres://u:hunter2@db:5432/app",
                "postgres://u:***@db:5432/app",
            ),
            (
                "postgresql://u@db/app?password=hunter2&sslmode=require",
                "postgresql://u@db/app?password=***&sslmode=require",
            ),
            (
                "postgres://u:a@b@h/d?sslpassword=x&PassWord=y&options=-c%20a%3Db#f",
                "postgres://u:***@h/d?sslpassword=***&PassWord=***&options=-c%20a%3Db#f",
            ),
            (
                "postgres://h/d?%70assword=x",
                "postgres://h/d?%70assword=***",
            ),
            ("postgres://u@h/d", "postgres://u@h/d"),
            ("not a url", "not a url"),
        ];
        for (given, shown) in cases {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn scrub_redacts_urls_in_free_text() {
        assert_eq!(
            scrub("cannot parse 'postgres://u:pw1@h/d?password=pw2' here"),
            "cannot parse 'postgres://u:***@h/d?password=***' here"
        );
        assert_eq!(
            scrub("kept POSTGRESQL://x:y@h/d and postgres://h/d?token=t"),
            "kept POSTGRESQL://x:***@h/d and postgres://h/d?token=***"
        );
    }

    #[test]
    fn decoding_keeps_plus_signs() {
        assert_eq!(decode("p%40ss+word"), "p@ss+word");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
