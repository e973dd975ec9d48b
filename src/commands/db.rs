//! `dbkit db start|stop|status|url|destroy` on `./.dbkit/pg`: the cluster engine
//! (`db::cluster`) does the work, `report::db` renders it; the confirmation prompt of
//! `destroy` lives here, because only the command layer talks to the user.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::cli::db::DbAction;
use crate::cli::ConnectOpts;
use crate::db::cluster::{shown, Cluster, Stopped};
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::db::DbReport;
use crate::report::{emit, Format};

pub async fn run(connect: &ConnectOpts, action: DbAction, format: Format) -> Result<Outcome> {
    let cluster = Cluster::new(Cluster::default_dir()?)?;
    let dir = shown(cluster.dir());
    let done = |message: String| -> Result<DbReport> {
        Ok(DbReport::Done {
            message,
            status: cluster.status()?,
        })
    };
    let report = match action {
        DbAction::Start => done(cluster.start()?.describe(&dir))?,
        DbAction::Stop => done(match cluster.stop()? {
            Stopped::Stopped => format!("stopped ({dir})"),
            Stopped::NotRunning {
                stale_pid_file: true,
            } => format!("not running ({dir}); removed a stale postmaster.pid"),
            Stopped::NotRunning { .. } => format!("not running ({dir})"),
        })?,
        DbAction::Status => {
            let status = cluster.status()?;
            if status.running {
                let cache = crate::lab::cache::list(&cluster.server_url()?).await?;
                DbReport::StatusWithCache { status, cache }
            } else {
                DbReport::Status(status)
            }
        }
        DbAction::PruneCache => {
            let database = crate::config::Database::resolve(connect.database_url.as_deref())?;
            let server = database.url()?;
            DbReport::Pruned(crate::lab::cache::prune(&server).await?)
        }
        DbAction::Url => DbReport::Url(cluster.url()?.reveal()),
        DbAction::Destroy { yes } => {
            if !cluster.dir().exists() {
                done(format!("nothing to destroy ({dir} does not exist)"))?
            } else if !yes
                && !confirm(&format!(
                    "Delete the local cluster in {dir} and all its databases?"
                ))?
            {
                done(format!("kept {dir}"))?
            } else {
                cluster.destroy()?;
                done(format!("destroyed {dir}"))?
            }
        }
    };
    emit(&report, format)?;
    Ok(Outcome::Clean)
}

/// Ask on the terminal; refuse outright when stdin is not one.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(hinted(
            "refusing to destroy the local cluster without confirmation (stdin is not a terminal)",
            "pass --yes: `dbkit db destroy --yes`",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
