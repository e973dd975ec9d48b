//! The load shapes of the phase-6 report, as phases a runner can execute: how many
//! clients, whether they start together, and when a phase stops. Pure, no database.

use std::time::Duration;

/// The report's scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1, then 5, then 10 concurrent clients (the report's ramp-up test).
    Ramp,
    /// 30 clients released at the same instant (the report's burst test).
    Burst,
    /// 5 batches of 10 concurrent clients, one after the other (the report's sustained test).
    Sustained,
    /// ramp, burst and sustained in that order.
    All,
}

/// When a phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many transactions in total, shared by the clients.
    Requests(u64),
    /// After this much wall time (clients finish the transaction they are in).
    Duration(Duration),
}

/// One measured phase: `concurrency` clients looping over the booking transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Row name in the report: `ramp-5`, `burst`, `sustained-3`, `custom`.
    pub name: String,
    /// The scenario a phase belongs to, to merge batches (`sustained`).
    pub group: String,
    pub concurrency: usize,
    pub stop: Stop,
    /// Release every client at the same instant (a barrier) instead of as they are ready.
    pub synchronized: bool,
}

/// How much work each client does in a scenario phase when no `--requests` or
/// `--duration` is given: enough samples for a p99 on the one-client phase.
pub const DEFAULT_REQUESTS_PER_CLIENT: u64 = 20;

/// The phases of a scenario. `per_client` is the number of transactions each client runs
/// (total = concurrency × per_client, at least 100 per phase so percentiles mean something).
pub fn phases(scenario: Scenario, per_client: u64) -> Vec<Phase> {
    let fixed = |name: String, group: &str, concurrency: usize, synchronized: bool| Phase {
        name,
        group: group.to_string(),
        concurrency,
        stop: Stop::Requests((concurrency as u64 * per_client).max(100)),
        synchronized,
    };
    match scenario {
        Scenario::Ramp => [1, 5, 10]
            .into_iter()
            .map(|c| fixed(format!("ramp-{c}"), "ramp", c, false))
            .collect(),
        Scenario::Burst => vec![fixed("burst".into(), "burst", 30, true)],
        Scenario::Sustained => (1..=5)
            .map(|b| fixed(format!("sustained-{b}"), "sustained", 10, true))
            .collect(),
        Scenario::All => [Scenario::Ramp, Scenario::Burst, Scenario::Sustained]
            .into_iter()
            .flat_map(|s| phases(s, per_client))
            .collect(),
    }
}

/// A single phase from `--concurrency N` with `--duration` or `--requests`.
pub fn custom(concurrency: usize, stop: Stop) -> Phase {
    Phase {
        name: format!("custom-{concurrency}"),
        group: "custom".into(),
        concurrency,
        stop,
        synchronized: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_is_one_five_ten() {
        let p = phases(Scenario::Ramp, 20);
        let shape: Vec<(String, usize)> =
            p.iter().map(|p| (p.name.clone(), p.concurrency)).collect();
        assert_eq!(
            shape,
            vec![
                ("ramp-1".into(), 1),
                ("ramp-5".into(), 5),
                ("ramp-10".into(), 10)
            ]
        );
        assert_eq!(p[0].stop, Stop::Requests(100), "at least 100 samples");
        assert_eq!(p[2].stop, Stop::Requests(200));
    }

    #[test]
    fn burst_is_thirty_released_together() {
        let p = phases(Scenario::Burst, 20);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].concurrency, 30);
        assert!(p[0].synchronized);
        assert_eq!(p[0].stop, Stop::Requests(600));
    }

    #[test]
    fn sustained_is_five_batches_of_ten() {
        let p = phases(Scenario::Sustained, 10);
        assert_eq!(p.len(), 5);
        assert!(p
            .iter()
            .all(|p| p.concurrency == 10 && p.group == "sustained"));
        assert_eq!(p[4].name, "sustained-5");
    }

    #[test]
    fn all_runs_everything_in_order() {
        let names: Vec<String> = phases(Scenario::All, 1)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("ramp-1"));
        assert_eq!(names.len(), 3 + 1 + 5);
        assert_eq!(names[3], "burst");
    }
}
