//! One row of one table at a time, for callers that insert rows themselves (the
//! isolation proof's fixture): the same column generators, CHECK hints and orderings
//! as a seed's plan, with the columns the caller sets (foreign keys, the tenant key,
//! the user) given, and every other value drawn so the table's CHECKs — cross-column
//! ones included — hold. `cover` goes through listed values and past and future times
//! row by row, so a few rows vary over them.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::check::{Check, Hints, V};
use super::column::{self, after, Ctx, Gen, OrgInfo, Window};
use super::value::Value;
use crate::schema::facts::{Column, Relation};

/// Makes rows of one relation.
pub struct RowMaker {
    columns: Vec<MadeColumn>,
    checks: Vec<Check>,
    /// (earlier, later, strict) by column index.
    orders: Vec<(usize, usize, bool)>,
}

struct MadeColumn {
    name: String,
    gen: Result<Gen, column::Unsupported>,
    not_null: bool,
    /// Listed values, dates and CHECK-read columns get a value even when nullable.
    wanted: bool,
}

/// A column no value can be made for.
#[derive(Debug, Clone, PartialEq)]
pub struct NoValue {
    pub column: String,
    pub type_name: String,
}

impl RowMaker {
    pub fn new(r: &Relation) -> RowMaker {
        let mut checks: Vec<Check> = r
            .checks
            .iter()
            .map(|c| Check::parse(&c.name, &c.definition, None))
            .collect();
        for c in &r.columns {
            for d in &c.domain_checks {
                checks.push(Check::parse(&d.name, &d.definition, Some(&c.name)));
            }
        }
        let hints = Hints::of(&checks);
        let writable: Vec<&Column> = r.columns.iter().filter(|c| c.writable()).collect();
        let columns: Vec<MadeColumn> = writable
            .iter()
            .map(|c| {
                let gen = column::choose(c, hints.column(&c.name), None, false, false);
                let listed = matches!(gen, Ok(Gen::Choice(_)));
                let dated = c.category == "D";
                let checked = checks.iter().any(|k| k.columns.contains(&c.name));
                MadeColumn {
                    name: c.name.clone(),
                    gen,
                    not_null: c.not_null,
                    wanted: c.required() || listed || dated || checked,
                }
            })
            .collect();
        let index = |n: &str| columns.iter().position(|c| c.name == n);
        let orders = hints
            .orders
            .iter()
            .filter_map(|o| Some((index(&o.earlier)?, index(&o.later)?, o.strict)))
            .collect();
        RowMaker {
            columns,
            checks,
            orders,
        }
    }

    /// How many rows it takes to go through every listed value of a column (and past
    /// and future times): at least 2.
    pub fn variety(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match &c.gen {
                Ok(Gen::Choice(items)) => items.len(),
                Ok(Gen::Timestamp(_) | Gen::Date(_)) => 2,
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .max(2)
    }

    /// Values for the wanted columns `given` does not set, as (column, value). `row` and
    /// `tenant` pick the variation; equal arguments give equal values.
    pub fn make(
        &self,
        given: &BTreeMap<String, Value>,
        row: usize,
        tenant: usize,
        oid: u32,
    ) -> Result<Vec<(String, Value)>, NoValue> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(((oid as u64) << 32) ^ ((tenant as u64) << 16) ^ row as u64);
        let window = Window {
            anchor: super::generate::anchor_of(chrono::Utc::now().date_naive()),
            past_days: 365,
            future_days: 90,
        };
        let org = OrgInfo {
            name: format!("Tenant {}", tenant + 1),
            slug: format!("tenant-{}", tenant + 1),
            domain: format!("tenant-{}.example.com", tenant + 1),
            created_at: window.anchor - chrono::Duration::days(400),
            city: tenant,
        };
        let person = column::someone(&mut rng);
        let n = self.columns.len();
        let mut values = vec![Value::Null; n];
        let mut fixed = vec![false; n];
        for (i, c) in self.columns.iter().enumerate() {
            if let Some(v) = given.get(&c.name) {
                values[i] = v.clone();
                fixed[i] = true;
            }
        }
        let draw = |i: usize, values: &[Value], rng: &mut ChaCha8Rng| -> Result<Value, NoValue> {
            for &(e, l, strict) in &self.orders {
                if l == i && !values[e].is_null() {
                    if let Some(v) = after(&values[e], strict, rng) {
                        return Ok(v);
                    }
                }
            }
            let c = &self.columns[i];
            match &c.gen {
                Ok(g) => Ok(g.value(&mut Ctx {
                    rng,
                    window,
                    org: &org,
                    row: row + tenant,
                    cover: true,
                    person,
                })),
                Err(u) => Err(NoValue {
                    column: c.name.clone(),
                    type_name: u.type_name.clone(),
                }),
            }
        };
        // Earlier columns of an ordering first.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| self.orders.iter().filter(|(_, l, _)| l == i).count());
        for &i in &order {
            if fixed[i] || !self.columns[i].wanted {
                continue;
            }
            match draw(i, &values, &mut rng) {
                Ok(v) => values[i] = v,
                Err(e) if self.columns[i].not_null => return Err(e),
                Err(_) => {}
            }
        }
        // CHECKs that still fail: draw their columns again (NULL now and then).
        for _ in 0..40 {
            let lookup = |name: &str| {
                self.columns
                    .iter()
                    .position(|c| c.name == name)
                    .map(|i| V::of(&values[i]))
            };
            let Some(check) = self.checks.iter().find(|c| c.fails(&lookup)) else {
                break;
            };
            for &i in &order {
                let c = &self.columns[i];
                if fixed[i] || !check.columns.contains(&c.name) {
                    continue;
                }
                values[i] = if !c.not_null && rng.random_bool(0.3) {
                    Value::Null
                } else {
                    draw(i, &values, &mut rng).unwrap_or(Value::Null)
                };
            }
        }
        Ok(self
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| !fixed[*i] && c.wanted && !values[*i].is_null())
            .map(|(i, c)| (c.name.clone(), values[i].clone()))
            .collect())
    }
}
