//! Making the rows of a plan, org by org, deterministically: (plan, seed, orgs, window)
//! → the same rows in the same order. Rows go to a `Sink` one at a time; only the rows
//! later tables reference are kept, and only for the org being made (plus the shared
//! rows), so memory follows the largest org, not the whole seed.
//!
//! A row: the tenant key, then its foreign keys (parents of the same org — the tenant
//! key is the same along every path by construction — shared rows, the org's users),
//! ids, then the other columns in generation order (a later column of an ordering is
//! made from its earlier one). Exclusion constraints: per key, a time span that
//! overlaps another is drawn again. CHECKs that still fail: their columns are drawn
//! again; uniques that collide: drawn again, then suffixed. What cannot be made valid
//! is an error naming the table and the constraint — never a row the server refuses
//! halfway through.
//!
//! Randomness: one ChaCha8 stream per org (`set_stream(org + 1)`), stream 0 for the
//! orgs' sizes and a separate seed for the shared rows.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{Duration, NaiveTime};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::check::V;
use super::column::{self, after, Ctx, Gen, OrgInfo, Window};
use super::names;
use super::plan::{Count, Plan, Role, Source, TablePlan};
use super::value::Value;

/// Everything the rows depend on. Equal parameters → equal rows.
#[derive(Debug, Clone)]
pub struct Params {
    pub orgs: u32,
    pub seed: u64,
    pub window: Window,
    pub size_skew: f64,
    pub size_jitter: f64,
    /// Draw every listed value and past and future times in turn (the isolation proof).
    pub cover: bool,
}

/// Where rows go.
pub trait Sink {
    /// One row of `plan.tables[table]`, its values in the plan's column order.
    fn row(&mut self, table: usize, values: &[Value]) -> Result<(), Stopped>;
    /// Every row of org `index` has been handed on.
    fn org_done(&mut self, index: u32) -> Result<(), Stopped>;
    /// From here on the org's rows are made as this user (its first member): for
    /// triggers that read `auth.uid()`.
    fn actor(&mut self, _user: &Value) -> Result<(), Stopped> {
        Ok(())
    }
}

/// The sink stopped taking rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Why generation ended early.
#[derive(Debug, Clone, PartialEq)]
pub enum GenError {
    Stopped,
    /// No valid row could be made: the table, the constraint, what was tried.
    Unsatisfiable {
        table: String,
        constraint: String,
        detail: String,
    },
}

impl From<Stopped> for GenError {
    fn from(_: Stopped) -> Self {
        GenError::Stopped
    }
}

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenError::Stopped => f.write_str("the rows were not taken"),
            GenError::Unsatisfiable {
                table,
                constraint,
                detail,
            } => write!(f, "{table}: no row satisfies {constraint} ({detail})"),
        }
    }
}

/// Relative sizes of the orgs, Zipf-like over a random permutation of ranks, with a
/// mean of 1.
pub fn org_weights(orgs: u32, seed: u64, skew: f64, jitter: f64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(0);
    let mut ranks: Vec<u32> = (1..=orgs).collect();
    ranks.shuffle(&mut rng);
    let raw: Vec<f64> = ranks
        .iter()
        .map(|&rank| {
            let j = 1.0 + jitter * (2.0 * rng.random::<f64>() - 1.0);
            j / (rank as f64).powf(skew)
        })
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    raw.iter().map(|w| w / mean.max(1e-12)).collect()
}

/// Deterministic time-ordered uuids: a UUIDv7 layout whose timestamp is a counter from
/// a fixed base (one millisecond per id), the other bits from the org's stream.
struct IdClock {
    next_ms: u64,
}

impl IdClock {
    fn new(window: &Window) -> IdClock {
        let base = window.anchor - Duration::days(window.past_days as i64 + 3 * 365);
        IdClock {
            next_ms: base.timestamp_millis().max(0) as u64,
        }
    }

    fn next(&mut self, rng: &mut ChaCha8Rng) -> Uuid {
        let rest: [u8; 10] = rng.random();
        let ms = self.next_ms;
        self.next_ms += 1;
        uuid::Builder::from_unix_timestamp_millis(ms, &rest).into_uuid()
    }
}

/// What one table keeps across rows: uniques seen (as hashes), occupied time spans per
/// exclusion key, its rows (when referenced).
#[derive(Default, Clone)]
struct TableState {
    uniques: Vec<HashSet<u64>>,
    spans: Vec<HashMap<u64, BTreeMap<i64, i64>>>,
    rows: Vec<Vec<Value>>,
    made: usize,
}

impl TableState {
    fn new(t: &TablePlan) -> TableState {
        TableState {
            uniques: vec![HashSet::new(); t.uniques.len()],
            spans: vec![HashMap::new(); t.exclusions.len()],
            rows: vec![],
            made: 0,
        }
    }

    /// Forget what only mattered inside the org (per-org uniques and spans, rows).
    fn end_org(&mut self, t: &TablePlan) {
        for (i, u) in t.uniques.iter().enumerate() {
            if u.per_org {
                self.uniques[i].clear();
            }
        }
        for (i, x) in t.exclusions.iter().enumerate() {
            if x.per_org {
                self.spans[i].clear();
            }
        }
        if !matches!(t.role, Role::Shared | Role::Existing) {
            self.rows.clear();
        }
        self.made = 0;
    }
}

/// Rows made per table, in plan order.
pub type Counts = Vec<u64>;

/// The generator of one plan.
pub struct Generator<'p> {
    plan: &'p Plan,
    params: Params,
    weights: Vec<f64>,
    ids: IdClock,
    serial: Vec<i64>,
    state: Vec<TableState>,
    pub counts: Counts,
}

/// Tries before a row is given up on.
const TRIES: usize = 40;

impl<'p> Generator<'p> {
    /// `serial_start[t]`: the first number of table t's counter (past what it holds);
    /// `existing[t]`: the rows it already holds, as values in its column order.
    pub fn new(
        plan: &'p Plan,
        params: Params,
        serial_start: Vec<i64>,
        existing: Vec<Vec<Vec<Value>>>,
    ) -> Generator<'p> {
        let weights = org_weights(
            params.orgs,
            params.seed,
            params.size_skew,
            params.size_jitter,
        );
        let mut state: Vec<TableState> = plan.tables.iter().map(TableState::new).collect();
        for (t, rows) in existing.into_iter().enumerate() {
            if t < state.len() {
                state[t].rows = rows;
            }
        }
        Generator {
            ids: IdClock::new(&params.window),
            weights,
            serial: serial_start,
            counts: vec![0; plan.tables.len()],
            state,
            plan,
            params,
        }
    }

    /// Make every row: the shared rows, then org by org.
    pub fn run(&mut self, sink: &mut dyn Sink) -> Result<(), GenError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.seed ^ 0x5eed_5a4e_d000_0000);
        let shared_org = OrgInfo {
            name: "Shared".into(),
            slug: "shared".into(),
            domain: "example.com".into(),
            created_at: self.params.window.anchor - Duration::days(3 * 365),
            city: 0,
        };
        for t in 0..self.plan.tables.len() {
            if let Count::Shared(n) = self.plan.tables[t].count {
                for row in 0..n as usize {
                    let org = OrgCtx {
                        info: &shared_org,
                        key: Value::Null,
                        users: 0,
                    };
                    if let Some(values) = self.make_row(t, &org, &mut rng, row, None)? {
                        self.emit(t, values, sink)?;
                    }
                }
            }
        }
        for index in 0..self.params.orgs {
            self.org(index, sink)?;
        }
        Ok(())
    }

    /// One org's rows.
    pub fn org(&mut self, index: u32, sink: &mut dyn Sink) -> Result<(), GenError> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.seed);
        rng.set_stream(index as u64 + 1);
        let info = org_info(index, &self.params.window, &mut rng);
        let weight = self.weights.get(index as usize).copied().unwrap_or(1.0);
        let mut org = OrgCtx {
            info: &info,
            key: Value::Null,
            users: 0,
        };
        for t in 0..self.plan.tables.len() {
            let table = &self.plan.tables[t];
            match (&table.role, table.count) {
                (_, Count::Shared(_) | Count::Existing | Count::ByTrigger) => continue,
                (Role::Tenant, _) => {
                    if let Some(values) = self.make_row(t, &org, &mut rng, 0, None)? {
                        org.key = tenant_key(table, &values);
                        self.emit(t, values, sink)?;
                    }
                }
                (_, Count::One) => {
                    if let Some(values) = self.make_row(t, &org, &mut rng, 0, None)? {
                        self.emit(t, values, sink)?;
                    }
                }
                (Role::Users, Count::PerOrg(avg)) => {
                    let n = scaled(avg, weight, &mut rng).max(1);
                    for row in 0..n {
                        if let Some(values) = self.make_row(t, &org, &mut rng, row, None)? {
                            self.emit(t, values, sink)?;
                        }
                    }
                    org.users = self.state[t].rows.len().max(n);
                    let id = table
                        .columns
                        .iter()
                        .position(|c| matches!(c.source, Source::Id));
                    if let (Some(first), Some(id)) = (self.state[t].rows.first(), id) {
                        sink.actor(&first[id])?;
                    }
                    if !self.plan.has_tenant {
                        // Each org is one user: its key is the user's id.
                        if let Some(first) = self.state[t].rows.first() {
                            org.key = first
                                .iter()
                                .zip(&table.columns)
                                .find(|(_, c)| matches!(c.source, Source::Id))
                                .map(|(v, _)| v.clone())
                                .unwrap_or(Value::Null);
                        }
                    }
                }
                (Role::Membership { .. } | Role::PerUser { .. }, Count::PerUser(avg)) => {
                    let users = self
                        .users_table()
                        .map(|u| self.state[u].rows.len())
                        .unwrap_or(0);
                    for user in 0..users {
                        let n = if matches!(table.role, Role::Membership { .. }) {
                            1
                        } else {
                            draw(avg, &mut rng)
                        };
                        for k in 0..n {
                            let row = self.state[t].made;
                            let _ = k;
                            if let Some(values) =
                                self.make_row(t, &org, &mut rng, row, Some(Anchor::User(user)))?
                            {
                                self.emit(t, values, sink)?;
                            }
                        }
                    }
                }
                (Role::Child { fk }, Count::PerParent(avg)) => {
                    let parent = table.fks[*fk].target;
                    let parents = self.state[parent].rows.len();
                    for p in 0..parents {
                        for _ in 0..draw(avg * weight.sqrt().max(0.5), &mut rng) {
                            let row = self.state[t].made;
                            if let Some(values) =
                                self.make_row(t, &org, &mut rng, row, Some(Anchor::Parent(p)))?
                            {
                                self.emit(t, values, sink)?;
                            }
                        }
                    }
                }
                (_, Count::PerOrg(avg)) => {
                    let n = scaled(avg, weight, &mut rng);
                    for row in 0..n {
                        if let Some(values) = self.make_row(t, &org, &mut rng, row, None)? {
                            self.emit(t, values, sink)?;
                        }
                    }
                }
                (_, Count::PerUser(avg)) | (_, Count::PerParent(avg)) => {
                    let n = scaled(avg * 5.0, weight, &mut rng);
                    for row in 0..n {
                        if let Some(values) = self.make_row(t, &org, &mut rng, row, None)? {
                            self.emit(t, values, sink)?;
                        }
                    }
                }
            }
        }
        for (t, s) in self.state.iter_mut().enumerate() {
            s.end_org(&self.plan.tables[t]);
        }
        sink.org_done(index)?;
        Ok(())
    }

    fn users_table(&self) -> Option<usize> {
        self.plan.tables.iter().position(|t| t.role == Role::Users)
    }

    fn emit(&mut self, t: usize, values: Vec<Value>, sink: &mut dyn Sink) -> Result<(), Stopped> {
        sink.row(t, &values)?;
        self.counts[t] += 1;
        self.state[t].made += 1;
        // Rows an INSERT trigger makes from this one: their keys, for references.
        for (m, made) in self.plan.tables.iter().enumerate() {
            if let Role::ByTrigger { source, fk } = made.role {
                if source == t && made.referenced {
                    let fk = &made.fks[fk];
                    let mut row = vec![Value::Null; made.columns.len()];
                    for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                        row[*c] = values[*tc].clone();
                    }
                    self.state[m].rows.push(row);
                }
            }
        }
        let table = &self.plan.tables[t];
        if table.referenced || table.role == Role::Users {
            self.state[t].rows.push(values);
        }
        Ok(())
    }

    /// One valid row of table `t`, or None when the table has no more distinct rows to
    /// give (a join table whose pairs are used up).
    fn make_row(
        &mut self,
        t: usize,
        org: &OrgCtx,
        rng: &mut ChaCha8Rng,
        row: usize,
        anchor: Option<Anchor>,
    ) -> Result<Option<Vec<Value>>, GenError> {
        let table = &self.plan.tables[t];
        let mut last_failure = None;
        for attempt in 0..TRIES {
            let mut values = vec![Value::Null; table.columns.len()];
            let mut fixed = vec![false; table.columns.len()];
            for (i, c) in table.columns.iter().enumerate() {
                match c.source {
                    Source::TenantKey => {
                        values[i] = org.key.in_column(&c.wire);
                        fixed[i] = true;
                    }
                    Source::Null => fixed[i] = true,
                    _ => {}
                }
            }
            if !self.foreign_keys(t, org, rng, row, anchor, attempt, &mut values, &mut fixed) {
                // A required parent has no rows in this org: no row.
                return Ok(None);
            }
            for (i, c) in table.columns.iter().enumerate() {
                if fixed[i] {
                    continue;
                }
                match c.source {
                    Source::Id => {
                        values[i] = Value::Uuid(self.ids.next(rng));
                        fixed[i] = true;
                    }
                    Source::Serial => {
                        values[i] = Value::Int(self.serial[t]);
                        self.serial[t] += 1;
                        fixed[i] = true;
                    }
                    _ => {}
                }
            }
            let person = column::someone(rng);
            let mut ctx_org = org.info.clone();
            if table.role == Role::Users {
                // A user's e-mail is their own, not the org's domain.
                ctx_org.domain = names::EMAIL_DOMAINS[row % names::EMAIL_DOMAINS.len()].into();
            }
            for &i in &table.order {
                if fixed[i] {
                    continue;
                }
                values[i] = self.draw(t, i, &values, &ctx_org, rng, row, person);
            }
            if let (Some(rc), Role::Membership { .. }) = (table.role_column, &table.role) {
                if let Some(v) = role_value(table, rc, row) {
                    values[rc] = v;
                }
            }
            // CHECKs: draw the columns of a failing one again.
            let mut failing = None;
            for _ in 0..TRIES {
                failing = table
                    .checks
                    .iter()
                    .find(|c| c.fails(&lookup(table, &values)))
                    .cloned();
                let Some(check) = &failing else { break };
                let mut redrawn = false;
                for &i in &table.order {
                    let c = &table.columns[i];
                    if fixed[i] || !check.columns.contains(&c.name) {
                        continue;
                    }
                    values[i] = if !c.not_null && rng.random_bool(0.3) {
                        Value::Null
                    } else {
                        self.draw_value(t, i, &values, &ctx_org, rng, row, person)
                    };
                    redrawn = true;
                    // Keep its later columns after it.
                    for &(e, l, strict) in &table.orders {
                        if e == i && !fixed[l] {
                            if let Some(v) = after(&values[e], strict, rng) {
                                values[l] = v;
                            }
                        }
                    }
                }
                if !redrawn {
                    break;
                }
            }
            if let Some(check) = failing {
                last_failure = Some((
                    check.name.clone(),
                    "its columns were drawn again".to_string(),
                ));
                continue;
            }
            // Exclusion constraints: move a time span that overlaps.
            if let Err(name) = self.place_spans(t, &mut values, &fixed, rng) {
                last_failure = Some((name, "no free time span for its key".into()));
                continue;
            }
            // Uniques.
            match self.unique(t, &mut values, &fixed, rng) {
                Ok(()) => {}
                Err(name) => {
                    last_failure = Some((name, "its values collide".into()));
                    continue;
                }
            }
            self.commit_spans(t, &values);
            return Ok(Some(values));
        }
        let (constraint, detail) = last_failure.unwrap_or_default();
        // Keys made only of references and of closed sets of values (an enum, an
        // IN-list) are used up (every combination taken): fewer rows.
        let table = &self.plan.tables[t];
        let by_refs = table.uniques.iter().any(|u| {
            u.name == constraint
                && u.columns.iter().all(|c| {
                    matches!(
                        table.columns[*c].source,
                        Source::Fk(_) | Source::TenantKey | Source::Gen(Gen::Choice(_))
                    )
                })
        });
        if by_refs {
            return Ok(None);
        }
        Err(GenError::Unsatisfiable {
            table: table.name.clone(),
            constraint,
            detail: format!("{detail}, {TRIES} times"),
        })
    }

    /// Set the row's foreign keys; false when a required one has nothing to point at.
    #[allow(clippy::too_many_arguments)]
    fn foreign_keys(
        &self,
        t: usize,
        _org: &OrgCtx,
        rng: &mut ChaCha8Rng,
        row: usize,
        anchor: Option<Anchor>,
        attempt: usize,
        values: &mut [Value],
        fixed: &mut [bool],
    ) -> bool {
        let table = &self.plan.tables[t];
        let anchored_fk = match (&table.role, anchor) {
            (Role::Child { fk }, Some(Anchor::Parent(p))) => Some((*fk, p)),
            (Role::PerUser { fk }, Some(Anchor::User(u))) => Some((*fk, u)),
            _ => None,
        };
        let membership_user = match (&table.role, anchor) {
            (Role::Membership { user }, Some(Anchor::User(u))) => Some((*user, u)),
            _ => None,
        };
        if let Some((col, u)) = membership_user {
            if let Some(users) = self.users_table() {
                let urows = &self.state[users].rows;
                if let Some(fk) = table
                    .fks
                    .iter()
                    .find(|f| f.columns.contains(&col) && f.target == users)
                {
                    if let Some(parent) = urows.get(u) {
                        for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                            values[*c] = parent[*tc].clone();
                            fixed[*c] = true;
                        }
                    }
                }
            }
        }
        let mut order: Vec<usize> = (0..table.fks.len()).collect();
        if let Some((fk, _)) = anchored_fk {
            order.retain(|f| *f != fk);
            order.insert(0, fk);
        }
        for f in order {
            let fk = &table.fks[f];
            if fk.columns.iter().all(|c| fixed[*c]) {
                continue;
            }
            // Leaving a foreign key NULL: its nullable columns (one NULL is enough under
            // MATCH SIMPLE); NOT NULL ones keep their own source (the tenant key).
            let set_null = |values: &mut [Value], fixed: &mut [bool]| {
                for c in &fk.columns {
                    if !fixed[*c] && !table.columns[*c].not_null {
                        values[*c] = Value::Null;
                        fixed[*c] = true;
                    }
                }
            };
            if fk.null_only {
                set_null(values, fixed);
                continue;
            }
            let candidates: &[Vec<Value>] = &self.state[fk.target].rows;
            // A self-reference points at an earlier row of this org (or none).
            let leave_null = fk.nullable
                && (candidates.is_empty() || rng.random_bool(if fk.self_ref { 0.5 } else { 0.1 }));
            if leave_null {
                set_null(values, fixed);
                continue;
            }
            if candidates.is_empty() {
                return false;
            }
            let pick = match anchored_fk {
                Some((af, p)) if af == f => Some(p.min(candidates.len() - 1)),
                _ => {
                    // Skewed: earlier parents get more rows; another start per attempt.
                    let start = skewed(candidates.len(), rng);
                    let matches = |i: usize| {
                        fk.columns.iter().zip(&fk.target_columns).all(|(c, tc)| {
                            !fixed[*c] || values[*c].is_null() || values[*c] == candidates[i][*tc]
                        })
                    };
                    (0..candidates.len())
                        .map(|k| (start + k + attempt) % candidates.len())
                        .find(|i| matches(*i))
                }
            };
            match pick {
                Some(i) => {
                    for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                        values[*c] = candidates[i][*tc].clone();
                        fixed[*c] = true;
                    }
                }
                None if fk.nullable => set_null(values, fixed),
                None => return false,
            }
        }
        let _ = row;
        true
    }

    /// A value for column `i`: after its earlier column when it has one, else drawn
    /// (NULL at the column's share).
    #[allow(clippy::too_many_arguments)]
    fn draw(
        &self,
        t: usize,
        i: usize,
        values: &[Value],
        org: &OrgInfo,
        rng: &mut ChaCha8Rng,
        row: usize,
        person: (&'static str, &'static str),
    ) -> Value {
        let c = &self.plan.tables[t].columns[i];
        if c.null_share > 0.0 && rng.random_bool(c.null_share.min(1.0)) {
            return Value::Null;
        }
        self.draw_value(t, i, values, org, rng, row, person)
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_value(
        &self,
        t: usize,
        i: usize,
        values: &[Value],
        org: &OrgInfo,
        rng: &mut ChaCha8Rng,
        row: usize,
        person: (&'static str, &'static str),
    ) -> Value {
        let table = &self.plan.tables[t];
        for &(e, l, strict) in &table.orders {
            if l == i && !values[e].is_null() {
                if let Some(v) = after(&values[e], strict, rng) {
                    return v;
                }
            }
        }
        match &table.columns[i].source {
            Source::Gen(g) => g.value(&mut Ctx {
                rng,
                window: self.params.window,
                org,
                row,
                cover: self.params.cover,
                person,
            }),
            _ => Value::Null,
        }
    }

    /// Move the row's time span off the spans its exclusion keys already hold.
    fn place_spans(
        &self,
        t: usize,
        values: &mut [Value],
        fixed: &[bool],
        rng: &mut ChaCha8Rng,
    ) -> Result<(), String> {
        let table = &self.plan.tables[t];
        for (x, plan) in table.exclusions.iter().enumerate() {
            if !applies(plan.predicate.as_ref(), table, values) {
                continue;
            }
            let key = hash_values(plan.keys.iter().map(|k| &values[*k]), false);
            let Some(spans) = self.state[t].spans[x].get(&key) else {
                continue;
            };
            let (s, e) = (plan.start, plan.end);
            let free = |values: &[Value]| match (span_of(&values[s]), span_of(&values[e])) {
                (Some(a), Some(b)) => !overlaps(spans, a, b),
                _ => true,
            };
            if free(values) {
                continue;
            }
            if fixed[s] || fixed[e] {
                return Err(plan.name.clone());
            }
            let mut placed = false;
            for _ in 0..TRIES {
                let org = OrgInfo {
                    name: String::new(),
                    slug: String::new(),
                    domain: String::new(),
                    created_at: self.params.window.anchor,
                    city: 0,
                };
                values[s] = self.draw_value(t, s, values, &org, rng, 0, ("", ""));
                values[e] = after(&values[s], true, rng).unwrap_or(Value::Null);
                if free(values) {
                    placed = true;
                    break;
                }
            }
            if !placed {
                // After the key's last span.
                let last = spans.values().max().copied().unwrap_or(0);
                let length = match (span_of(&values[s]), span_of(&values[e])) {
                    (Some(a), Some(b)) => (b - a).max(1),
                    _ => 3_600_000_000,
                };
                let (Some(start), Some(end)) = (
                    at_micros(&values[s], last + 900_000_000),
                    at_micros(&values[e], last + 900_000_000 + length),
                ) else {
                    return Err(plan.name.clone());
                };
                values[s] = start;
                values[e] = end;
                if !free(values) {
                    return Err(plan.name.clone());
                }
            }
        }
        Ok(())
    }

    fn commit_spans(&mut self, t: usize, values: &[Value]) {
        let table = &self.plan.tables[t];
        for (x, plan) in table.exclusions.iter().enumerate() {
            if !applies(plan.predicate.as_ref(), table, values) {
                continue;
            }
            if let (Some(a), Some(b)) = (span_of(&values[plan.start]), span_of(&values[plan.end])) {
                let key = hash_values(plan.keys.iter().map(|k| &values[*k]), false);
                self.state[t].spans[x].entry(key).or_default().insert(a, b);
            }
        }
    }

    /// Keep the row's unique keys unique: draw a colliding key's columns again, then
    /// suffix text. Err: the constraint that stays violated.
    fn unique(
        &mut self,
        t: usize,
        values: &mut [Value],
        fixed: &[bool],
        rng: &mut ChaCha8Rng,
    ) -> Result<(), String> {
        let table = &self.plan.tables[t];
        let mut keys = Vec::with_capacity(table.uniques.len());
        for (u, plan) in table.uniques.iter().enumerate() {
            let mut tries = 0;
            loop {
                let cols = plan.columns.iter().map(|c| &values[*c]);
                if plan.columns.iter().any(|c| values[*c].is_null()) {
                    keys.push(None);
                    break;
                }
                let key = hash_values(cols, plan.fold_case);
                if !self.state[t].uniques[u].contains(&key) && !keys.contains(&Some((u, key))) {
                    keys.push(Some((u, key)));
                    break;
                }
                tries += 1;
                if tries > TRIES {
                    return Err(plan.name.clone());
                }
                // Change one of its own columns.
                let Some(&c) = plan.columns.iter().find(|c| !fixed[**c]) else {
                    return Err(plan.name.clone());
                };
                values[c] = match &table.columns[c].source {
                    // An enum or an IN-list: another of its values, never a new one.
                    Source::Gen(Gen::Choice(choices)) => {
                        choices[rng.random_range(0..choices.len())].0.clone()
                    }
                    _ => bump(&values[c], tries, rng),
                };
                if table
                    .checks
                    .iter()
                    .any(|ch| ch.fails(&lookup(table, values)))
                {
                    return Err(plan.name.clone());
                }
            }
        }
        for (u, key) in keys.into_iter().flatten() {
            self.state[t].uniques[u].insert(key);
        }
        Ok(())
    }
}

/// Which row a row hangs off: the k-th row of its parent table, or the k-th user.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Parent(usize),
    User(usize),
}

/// What a row may take from its org.
struct OrgCtx<'a> {
    info: &'a OrgInfo,
    key: Value,
    #[allow(dead_code)]
    users: usize,
}

/// The tenant table's key value in its row.
fn tenant_key(table: &TablePlan, values: &[Value]) -> Value {
    table
        .columns
        .iter()
        .zip(values)
        .find(|(c, _)| matches!(c.source, Source::Id | Source::Serial))
        .or_else(|| table.columns.iter().zip(values).next())
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null)
}

/// The member role of row `row`: the first member gets the most powerful one.
fn role_value(table: &TablePlan, column: usize, row: usize) -> Option<Value> {
    let Source::Gen(Gen::Choice(items)) = &table.columns[column].source else {
        return None;
    };
    let labels: Vec<&Value> = items.iter().map(|(v, _)| v).collect();
    let find = |words: &[&str]| {
        labels.iter().find(
            |v| matches!(v, Value::Text(s) if words.iter().any(|w| s.to_lowercase().contains(w))),
        )
    };
    if row == 0 {
        return find(&["owner", "primary_owner", "admin"]).map(|v| (*v).clone());
    }
    if row % 5 == 1 {
        return find(&["admin"]).map(|v| (*v).clone());
    }
    find(&["member", "staff", "user", "viewer"]).map(|v| (*v).clone())
}

fn lookup<'a>(table: &'a TablePlan, values: &'a [Value]) -> impl Fn(&str) -> Option<V> + 'a {
    move |name| table.column_index(name).map(|i| V::of(&values[i]))
}

fn applies(predicate: Option<&super::check::Cond>, table: &TablePlan, values: &[Value]) -> bool {
    match predicate {
        None => true,
        Some(p) => !matches!(
            super::check::eval(p, &lookup(table, values)),
            V::Bool(false) | V::Null
        ),
    }
}

fn span_of(v: &Value) -> Option<i64> {
    v.ordinal().map(|f| f as i64)
}

/// A value of `like`'s kind at `micros`.
fn at_micros(like: &Value, micros: i64) -> Option<Value> {
    Some(match like {
        Value::Timestamp(_) => Value::Timestamp(chrono::DateTime::from_timestamp_micros(micros)?),
        Value::Date(_) => {
            Value::Date(chrono::DateTime::from_timestamp_micros(micros)?.date_naive())
        }
        Value::Int(_) => Value::Int(micros),
        _ => return None,
    })
}

/// Does [a, b) overlap a span in `spans` (start → end)?
fn overlaps(spans: &BTreeMap<i64, i64>, a: i64, b: i64) -> bool {
    if let Some((_, end)) = spans.range(..=a).next_back() {
        if *end > a {
            return true;
        }
    }
    spans.range(a..b.max(a + 1)).next().is_some()
}

fn hash_values<'a>(values: impl Iterator<Item = &'a Value>, fold_case: bool) -> u64 {
    let mut h = DefaultHasher::new();
    for v in values {
        match v.to_text() {
            Some(t) if fold_case => t.to_lowercase().hash(&mut h),
            Some(t) => t.hash(&mut h),
            None => 0u8.hash(&mut h),
        }
        0xffu8.hash(&mut h);
    }
    h.finish()
}

/// Another value near `v`: text suffixed, numbers and times moved.
fn bump(v: &Value, k: usize, rng: &mut ChaCha8Rng) -> Value {
    match v {
        Value::Text(s) => {
            let base = s.rsplit_once('-').map(|(b, _)| b).unwrap_or(s);
            let n = rng.random_range(2..(10 * k as u32 + 10));
            if let Some((local, domain)) = s.split_once('@') {
                Value::Text(format!("{local}{n}@{domain}"))
            } else {
                Value::Text(format!("{base}-{n}"))
            }
        }
        Value::Int(i) => Value::Int(i + rng.random_range(1..(100 * k as i64 + 2))),
        Value::Float(f) => Value::Float(f + rng.random_range(0.001..1.0)),
        Value::Numeric(s) => {
            let scale = s.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
            let v: f64 =
                s.parse().unwrap_or(0.0) + rng.random_range(1..(100 * k as i64 + 2)) as f64;
            Value::Numeric(format!("{v:.scale$}"))
        }
        Value::Timestamp(t) => {
            Value::Timestamp(*t + Duration::minutes(15 * rng.random_range(1..96i64)))
        }
        Value::Date(d) => Value::Date(*d + Duration::days(rng.random_range(1..60i64))),
        Value::Uuid(_) => Value::Uuid(uuid::Builder::from_random_bytes(rng.random()).into_uuid()),
        Value::Time(t) => Value::Time(*t + Duration::minutes(rng.random_range(1..600i64))),
        other => other.clone(),
    }
}

/// Round `avg × weight` to a whole number of rows.
fn scaled(avg: f64, weight: f64, rng: &mut ChaCha8Rng) -> usize {
    draw(avg * weight, rng)
}

/// A whole number with mean `avg`: its floor, plus one at its fraction's chance.
fn draw(avg: f64, rng: &mut ChaCha8Rng) -> usize {
    let avg = avg.max(0.0);
    let base = avg.floor();
    base as usize + usize::from(rng.random_bool((avg - base).clamp(0.0, 1.0)))
}

/// An index in 0..n, earlier ones likelier (a few parents get most of the rows).
fn skewed(n: usize, rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.random();
    ((u * u) * n as f64) as usize % n.max(1)
}

/// The org's name, slug, domain, creation time and city.
fn org_info(index: u32, window: &Window, rng: &mut ChaCha8Rng) -> OrgInfo {
    let kind = &names::KINDS[rng.random_range(0..names::KINDS.len())];
    let place = names::PLACES[rng.random_range(0..names::PLACES.len())];
    let suffix = kind.suffixes[rng.random_range(0..kind.suffixes.len())];
    let name = format!("{place} {suffix}");
    let base = names::slugify(&name);
    OrgInfo {
        slug: format!("{base}-{}", index + 1),
        domain: format!("{base}.com"),
        name,
        created_at: column::org_created(window, rng),
        city: rng.random_range(0..names::CITIES.len()),
    }
}

/// Midnight UTC of a date: the window's anchor.
pub fn anchor_of(date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_weights_are_skewed_with_mean_one() {
        let w = org_weights(50, 42, 0.8, 0.15);
        let mean = w.iter().sum::<f64>() / 50.0;
        assert!((mean - 1.0).abs() < 1e-9);
        let mut sorted = w.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert!(sorted[49] > 5.0 * sorted[25], "{sorted:?}");
        assert_eq!(w, org_weights(50, 42, 0.8, 0.15));
    }

    #[test]
    fn spans_overlap_as_half_open_ranges() {
        let mut spans = BTreeMap::new();
        spans.insert(10, 20);
        assert!(overlaps(&spans, 15, 25));
        assert!(overlaps(&spans, 5, 11));
        assert!(!overlaps(&spans, 20, 30));
        assert!(!overlaps(&spans, 0, 10));
        assert!(overlaps(&spans, 0, 30));
    }
}
