//! Passwords never reach output: every secret seen while resolving a connection is
//! registered here, and everything dbkit prints about errors passes through `scrub`.

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

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

/// Replace every registered secret in `text` with `***`.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
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
}
