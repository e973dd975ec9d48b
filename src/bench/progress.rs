//! Progress on stderr while the bench runs, when stderr is a terminal (indicatif, as
//! `dbkit seed` does it); nothing at all otherwise. One indicator per phase: a bar of
//! transactions for a phase with a request count, a counter for a timed phase, a
//! spinner for warm-up and for the double-booking check and cleanup. Each is cleared
//! when its phase ends, so only the report remains.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::scenario::{Phase, Stop};

/// Makes one indicator per phase (or none, when stderr is not a terminal).
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Indicators only when stderr is a terminal.
    pub fn new() -> Progress {
        Progress::with(crate::report::stderr_is_terminal())
    }

    pub fn with(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// The indicator of a measured phase: counts its transactions.
    pub fn phase(&self, phase: &Phase) -> PhaseBar {
        let clients = format!(
            "{} ({} client{})",
            phase.name,
            phase.concurrency,
            if phase.concurrency == 1 { "" } else { "s" }
        );
        self.make(|| match phase.stop {
            Stop::Requests(n) => styled(
                ProgressBar::new(n),
                "{spinner} bench {prefix} [{bar:30}] {pos}/{len} transactions ({elapsed})",
                clients,
            ),
            Stop::Duration(d) => styled(
                ProgressBar::no_length(),
                &format!(
                    "{{spinner}} bench {{prefix}} {{pos}} transactions ({{elapsed}} of {}s)",
                    d.as_secs()
                ),
                clients,
            ),
        })
    }

    /// A spinner for a step without a count (warm-up, verification, cleanup).
    pub fn step(&self, what: &str) -> PhaseBar {
        self.make(|| {
            styled(
                ProgressBar::no_length(),
                "{spinner} bench {prefix} ({elapsed})",
                what.to_string(),
            )
        })
    }

    fn make(&self, bar: impl FnOnce() -> ProgressBar) -> PhaseBar {
        PhaseBar {
            bar: self.enabled.then(|| {
                let bar = bar();
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

fn styled(bar: ProgressBar, template: &str, prefix: String) -> ProgressBar {
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// One phase's indicator, cleared when finished or dropped (so an early return clears
/// it too). Client tasks count through `counter()`.
#[derive(Default)]
pub struct PhaseBar {
    bar: Option<ProgressBar>,
}

impl PhaseBar {
    /// No indicator.
    pub fn hidden() -> PhaseBar {
        PhaseBar::default()
    }

    /// A handle that counts transactions, cheap to clone into every client task.
    pub fn counter(&self) -> Counter {
        Counter(self.bar.clone())
    }

    /// Remove the indicator (the phase is over).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn is_hidden(&self) -> bool {
        self.bar.is_none()
    }
}

impl Drop for PhaseBar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Counts one phase's transactions (nothing when there is no indicator).
#[derive(Clone, Default)]
pub struct Counter(Option<ProgressBar>);

impl Counter {
    /// One more transaction done.
    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenario;

    #[test]
    fn nothing_when_not_wanted() {
        let p = Progress::with(false);
        for phase in scenario::phases(scenario::Scenario::All, 1) {
            let bar = p.phase(&phase);
            bar.counter().inc();
            bar.finish();
            assert!(bar.is_hidden());
        }
        assert!(p.step("warming up").is_hidden());
    }

    #[test]
    fn one_indicator_per_phase_when_wanted() {
        let p = Progress::with(true);
        let phase = scenario::custom(3, Stop::Requests(10));
        let bar = p.phase(&phase);
        assert!(!bar.is_hidden());
        let (a, b) = (bar.counter(), bar.counter());
        a.inc();
        b.inc();
        assert_eq!(bar.bar.as_ref().unwrap().position(), 2);
        assert_eq!(bar.bar.as_ref().unwrap().length(), Some(10));
        bar.finish();
        let timed = p.phase(&scenario::custom(2, Stop::Duration(Duration::from_secs(5))));
        assert_eq!(timed.bar.as_ref().unwrap().length(), None);
        timed.finish();
    }
}
