//! The bench's indicators, drawn through `crate::progress` (only on a terminal): a bar
//! of transactions for a phase with a request count, a counter for a timed phase, a
//! spinner for warm-up and for the double-booking check and cleanup. Only the
//! templates are the bench's; each indicator is cleared when its phase ends.

use std::sync::Arc;

use super::scenario::{Phase, Stop};
use crate::progress::Indicator;

/// Makes one indicator per phase.
#[derive(Debug, Default)]
pub struct Progress;

impl Progress {
    pub fn new() -> Progress {
        Progress
    }

    /// The indicator of a measured phase: counts its transactions.
    pub fn phase(&self, phase: &Phase) -> PhaseBar {
        let clients = format!(
            "{} ({} client{})",
            phase.name,
            phase.concurrency,
            if phase.concurrency == 1 { "" } else { "s" }
        );
        let indicator = match phase.stop {
            Stop::Requests(n) => Indicator::bar(
                n,
                "{spinner} bench {prefix} [{bar:30}] {pos}/{len} transactions ({elapsed})",
            ),
            Stop::Duration(d) => Indicator::spinner(&duration_template(d.as_secs())),
        };
        indicator.set_prefix(clients);
        PhaseBar(Arc::new(indicator))
    }

    /// A spinner for a step without a count (warm-up, verification, cleanup).
    pub fn step(&self, what: &str) -> PhaseBar {
        let indicator = Indicator::spinner("{spinner} bench {prefix} ({elapsed})");
        indicator.set_prefix(what.to_string());
        PhaseBar(Arc::new(indicator))
    }
}

fn duration_template(secs: u64) -> String {
    format!("{{spinner}} bench {{prefix}} {{pos}} transactions ({{elapsed}} of {secs}s)")
}

/// One phase's indicator, cleared when finished or dropped (so an early return clears
/// it too). Client tasks count through `counter()`.
#[derive(Debug)]
pub struct PhaseBar(Arc<Indicator>);

impl PhaseBar {
    /// A handle that counts transactions, cheap to clone into every client task.
    pub fn counter(&self) -> Counter {
        Counter(Some(self.0.clone()))
    }

    /// Remove the indicator (the phase is over).
    pub fn finish(&self) {
        self.0.finish();
    }
}

/// Counts one phase's transactions (nothing when there is no indicator).
#[derive(Debug, Clone, Default)]
pub struct Counter(Option<Arc<Indicator>>);

impl Counter {
    /// One more transaction done.
    pub fn inc(&self) {
        if let Some(indicator) = &self.0 {
            indicator.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario;

    #[test]
    fn templates_name_the_phase_length() {
        assert_eq!(
            duration_template(5),
            "{spinner} bench {prefix} {pos} transactions ({elapsed} of 5s)"
        );
        // Off a terminal (tests) nothing is drawn, and counting is harmless.
        let p = Progress::new();
        for phase in scenario::phases(scenario::Scenario::All, 1) {
            let bar = p.phase(&phase);
            bar.counter().inc();
            bar.finish();
        }
        Counter::default().inc();
    }
}
