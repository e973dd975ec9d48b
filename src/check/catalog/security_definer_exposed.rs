//! `security-definer-exposed`: a SECURITY DEFINER function (not a trigger function) in an
//! exposed schema runs as its owner, past row-level security, for whoever may call it
//! through the API. Executable by anon: an error. By authenticated with a body that
//! never reads the caller (auth.uid(), auth.jwt(), the request.jwt claims): an error —
//! any user acts on any tenant. With a caller check: a warning, to review.

use super::Hit;
use crate::check::rule::{Rule, Severity};
use crate::schema::facts::Facts;

/// Does the body read who is calling?
pub fn reads_caller(body: &str) -> bool {
    let body = body.to_lowercase();
    [
        "auth.uid",
        "auth.jwt",
        "auth.role",
        "request.jwt",
        "auth.email",
    ]
    .iter()
    .any(|c| body.contains(c))
}

pub fn check(facts: &Facts) -> Vec<(Hit, Severity)> {
    let mut hits = Vec::new();
    for f in facts
        .functions
        .iter()
        .filter(|f| f.security_definer && f.exposed && !f.is_trigger)
    {
        let (severity, message) = if f.anon {
            (
                Severity::Error,
                format!("SECURITY DEFINER function {}() is executable by anon: anyone on the internet runs it as its owner, past row-level security (REVOKE EXECUTE ON FUNCTION {} FROM public, anon)", f.name, f.name),
            )
        } else if f.authenticated && !reads_caller(&f.body) {
            (
                Severity::Error,
                format!("SECURITY DEFINER function {}() is executable by authenticated and never reads the caller (auth.uid(), auth.jwt()): any user runs it on any tenant's rows", f.name),
            )
        } else if f.authenticated {
            (
                Severity::Warning,
                format!("SECURITY DEFINER function {}() is executable by authenticated and checks the caller: review that the check covers every row it touches", f.name),
            )
        } else {
            continue;
        };
        hits.push((
            Hit::new(
                Rule::SecurityDefinerExposed,
                format!("{}()", f.name),
                message,
                vec![format!("function:{}", f.short)],
            ),
            severity,
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::Function;

    fn function(name: &str, anon: bool, authenticated: bool, body: &str) -> Function {
        Function {
            oid: 1,
            name: name.into(),
            short: name.into(),
            sql_name: name.into(),
            exposed: true,
            security_definer: true,
            returns_set: false,
            required_args: 1,
            is_trigger: false,
            anon,
            authenticated,
            body: body.into(),
            returns: String::new(),
            args: vec![],
        }
    }

    #[test]
    fn graded_by_who_can_call_and_whether_it_checks() {
        let facts = Facts {
            functions: vec![
                function("purge", true, true, "delete from storage.objects"),
                function(
                    "assign_user_role",
                    false,
                    true,
                    "insert into roles values ($1, $2)",
                ),
                function(
                    "has_role_on_account",
                    false,
                    true,
                    "select exists (select 1 from m where user_id = auth.uid())",
                ),
                function("internal", false, false, "select 1"),
            ],
            ..Facts::default()
        };
        let hits = check(&facts);
        let grades: Vec<(String, Severity)> = hits
            .iter()
            .map(|(h, s)| (h.subjects[0].object.clone(), *s))
            .collect();
        assert_eq!(
            grades,
            vec![
                ("purge()".to_string(), Severity::Error),
                ("assign_user_role()".to_string(), Severity::Error),
                ("has_role_on_account()".to_string(), Severity::Warning),
            ]
        );
    }
}
