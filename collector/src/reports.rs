//! Reports: what a campaign's or an organization's traffic did over a time range. Leads (Base
//! Events), clicks (Base Click Sold), forms and calls sold, each event's count, conversions and
//! the conversion rate, revenue, payout, margin and earnings per click, with bot-flagged events
//! counted apart; in total and by hour, day, event, campaign or traffic source.
//!
//! SQLite does the counting (`GROUP BY` over the `events_report` covering index of store.rs,
//! whose generated columns hold each event's amounts, bot flag and source parameters): no event
//! is loaded here, only one row per group, campaign, event and bot flag.
//!
//! Reading a report takes a credential, like every read of stored data: a key reads only its
//! organization, and a campaign or organization it may not read gets the same 403 whether or
//! not it exists.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use crate::auth::{self, Reader};
use crate::catalog::Catalog;
use crate::rejections::{Path, Query};
use crate::store::{now_ms, QUARTER_MS, REPORT_SOURCES};
use crate::App;

/// The reports' routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/reports/campaigns/{campaign}", get(campaign_report))
        .route("/v1/reports/orgs/{org}", get(org_report))
}

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Rows of a time series at most (208 days by the hour, 13 years by the day).
pub const MAX_BUCKETS: i64 = 5000;
/// The conversion event of a campaign that names none: a lead sold as a form.
pub const DEFAULT_CONVERSION: &str = "form_sold";
/// The query parameters a report takes.
pub const PARAMETERS: [&str; 5] = ["from", "to", "group", "include_bots", "tz"];

/// What a report's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// A time series by the hour.
    Hour,
    /// A time series by the day.
    Day,
    /// One row per event.
    Event,
    /// One row per campaign.
    Campaign,
    /// One row per value of a traffic-source parameter (`REPORT_SOURCES[i]`).
    Source(usize),
}

impl Group {
    /// The group named `name`.
    pub fn parse(name: &str) -> Option<Group> {
        match name {
            "hour" => Some(Group::Hour),
            "day" => Some(Group::Day),
            "event" => Some(Group::Event),
            "campaign" => Some(Group::Campaign),
            _ => REPORT_SOURCES
                .iter()
                .position(|s| *s == name)
                .map(Group::Source),
        }
    }

    /// Its name, as the query names it.
    pub fn name(self) -> &'static str {
        match self {
            Group::Hour => "hour",
            Group::Day => "day",
            Group::Event => "event",
            Group::Campaign => "campaign",
            Group::Source(i) => REPORT_SOURCES[i],
        }
    }

    fn bucket_ms(self) -> Option<i64> {
        match self {
            Group::Hour => Some(HOUR_MS),
            Group::Day => Some(DAY_MS),
            _ => None,
        }
    }
}

/// A bad query parameter: its name and what is wrong; answered as a JSON 400 naming it.
#[derive(Debug, PartialEq, Eq)]
pub struct BadParameter {
    /// The parameter.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl BadParameter {
    fn new(name: &str, reason: impl Into<String>) -> BadParameter {
        BadParameter {
            name: name.into(),
            reason: reason.into(),
        }
    }

    fn response(&self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("{}: {}", self.name, self.reason), "parameter": self.name })),
        )
            .into_response()
    }
}

/// A report's query, read: the range `[from, to)` in Unix ms, the rows, whether bot-flagged
/// events count, and the time zone's offset from UTC (where its days start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Start, included (ms).
    pub from: i64,
    /// End, excluded (ms).
    pub to: i64,
    /// What the rows are.
    pub group: Group,
    /// Whether bot-flagged events count (they are always counted apart in `bots`).
    pub include_bots: bool,
    /// The time zone's offset from UTC in ms: dates and days are this zone's.
    pub offset_ms: i64,
}

impl Params {
    /// Reads the query string's parameters. Defaults: grouped by day, over today and the six
    /// days before it (in `tz`, UTC by default) up to `now`, bots left out.
    pub fn read(query: &[(String, String)], now: i64) -> Result<Params, BadParameter> {
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in query {
            if !PARAMETERS.contains(&k.as_str()) {
                return Err(BadParameter::new(
                    k,
                    format!(
                        "unknown parameter; a report takes {}",
                        PARAMETERS.join(", ")
                    ),
                ));
            }
            if given.insert(k, v).is_some() {
                return Err(BadParameter::new(k, "given more than once"));
            }
        }
        let offset_ms = match given.get("tz") {
            None => 0,
            Some(tz) => parse_offset(tz).ok_or_else(|| {
                BadParameter::new(
                    "tz",
                    format!("{tz:?} is not a UTC offset such as Z, +02:00, +05:45 or -05:00 (whole quarter hours)"),
                )
            })?,
        };
        let group = match given.get("group") {
            None => Group::Day,
            Some(g) => Group::parse(g).ok_or_else(|| {
                let mut names = vec!["hour", "day", "event", "campaign"];
                names.extend(REPORT_SOURCES);
                BadParameter::new("group", format!("{g:?} is not one of {}", names.join(", ")))
            })?,
        };
        let include_bots = match given.get("include_bots").copied() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(BadParameter::new(
                    "include_bots",
                    format!("{other:?} is neither true nor false"),
                ))
            }
        };
        let time = |name: &str, end_of_day: bool| match given.get(name) {
            None => Ok(None),
            Some(t) => parse_time(t, offset_ms, end_of_day)
                .map(Some)
                .ok_or_else(|| {
                    BadParameter::new(
                        name,
                        format!(
                            "{t:?} is neither a time in Unix ms nor an ISO 8601 date or date-time \
                         (2026-11-30, 2026-11-30T14:00, 2026-11-30T14:00:00Z)"
                        ),
                    )
                }),
        };
        let to = time("to", true)?.unwrap_or(now);
        let from = match time("from", false)? {
            Some(f) => f,
            // Today (in the zone) and the six days before it.
            None => (to - 1 + offset_ms).div_euclid(DAY_MS) * DAY_MS - offset_ms - 6 * DAY_MS,
        };
        if from >= to {
            let name = if given.contains_key("from") {
                "from"
            } else {
                "to"
            };
            return Err(BadParameter::new(
                name,
                "the range is empty: from must be before to",
            ));
        }
        if let Some(size) = group.bucket_ms() {
            let buckets =
                (to - 1 + offset_ms).div_euclid(size) - (from + offset_ms).div_euclid(size) + 1;
            if buckets > MAX_BUCKETS {
                return Err(BadParameter::new(
                    "group",
                    format!(
                        "{buckets} rows by the {} over this range, more than {MAX_BUCKETS}: group by day or choose a shorter range",
                        group.name()
                    ),
                ));
            }
        }
        Ok(Params {
            from,
            to,
            group,
            include_bots,
            offset_ms,
        })
    }
}

/// The Julian day of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// A UTC offset: `Z`, `UTC` or `±HH:MM` (at most 14 hours), in ms.
pub fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" || s == "UTC" {
        return Some(0);
    }
    // A `+` left unencoded in a query string arrives as a space (form encoding).
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' | b' ' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    // Every zone in use is a whole number of quarter hours from UTC (the reports count by them).
    if m % 15 != 0 || h * 60 + m > 14 * 60 {
        return None;
    }
    Some(sign * (h * 60 + m) * 60_000)
}

fn two_digits(s: &str) -> Option<i64> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A time: Unix ms, or an ISO 8601 date (`2026-11-30`: its midnight in the zone at `offset_ms`;
/// with `end_of_day`, the next midnight, so that `to=2026-11-30` takes in that whole day) or
/// date-time (`2026-11-30T14:00[:05[.250]]`, in the zone unless it ends in `Z` or `±HH:MM`).
pub fn parse_time(s: &str, offset_ms: i64, end_of_day: bool) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let date = s.get(..10)?;
    let rest = &s[10..];
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = date.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year as i32, month, u8::try_from(day).ok()?).ok()?;
    let midnight = (i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY) * DAY_MS;
    if rest.is_empty() {
        return Some(midnight - offset_ms + if end_of_day { DAY_MS } else { 0 });
    }
    let clock = rest.strip_prefix('T')?;
    // The zone: Z, ±HH:MM at the end, or the report's.
    let (clock, offset) = if let Some(c) = clock.strip_suffix('Z') {
        (c, 0)
    } else if clock.len() > 6 && matches!(clock.as_bytes()[clock.len() - 6], b'+' | b'-') {
        let (c, zone) = clock.split_at(clock.len() - 6);
        (c, parse_offset(zone)?)
    } else {
        (clock, offset_ms)
    };
    let (hm, seconds) = match clock.len() {
        5 => (clock, "00"),
        n if n >= 8 && clock.as_bytes()[5] == b':' => (&clock[..5], &clock[6..]),
        _ => return None,
    };
    let (h, m) = hm.split_once(':')?;
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    let (s, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    let s = two_digits(s)?;
    if h > 23 || m > 59 || s > 59 || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse::<i64>().ok()?
    };
    Some(midnight + ((h * 60 + m) * 60 + s) * 1000 + ms - offset)
}

/// A campaign in a report, with the event its conversions are counted by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignScope {
    /// Campaign ID.
    pub id: String,
    /// Its conversion event (the catalog's `conversion: true` event, else `form_sold`).
    pub conversion: String,
    /// Whether that event may fire more than once per lead (then converted leads are counted
    /// distinct).
    pub conversion_multi: bool,
}

/// An event a report counts, as listed in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventInfo {
    /// Event ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Category (`null` for an event stored but no longer in the catalog).
    pub category: Option<&'static str>,
}

/// What a report covers: its campaigns and the events they define (system events first).
#[derive(Clone, Debug)]
pub struct Scope {
    /// The organization.
    pub org: String,
    /// The campaign, for a campaign's report.
    pub campaign: Option<String>,
    /// Its campaigns.
    pub campaigns: Vec<CampaignScope>,
    /// The events its campaigns define, in the catalog's order.
    pub events: Vec<EventInfo>,
}

impl Scope {
    /// A campaign's report, if the catalog has the campaign.
    pub fn campaign(catalog: &Catalog, id: &str) -> Option<Scope> {
        let c = catalog.campaigns.get(id)?;
        Some(Scope::of(catalog, &c.org, Some(id)))
    }

    /// An organization's report, if the catalog has the organization.
    pub fn org(catalog: &Catalog, org: &str) -> Option<Scope> {
        catalog
            .file
            .organizations
            .iter()
            .any(|o| o.id == org)
            .then(|| Scope::of(catalog, org, None))
    }

    fn of(catalog: &Catalog, org: &str, only: Option<&str>) -> Scope {
        let mut campaigns = Vec::new();
        let mut events: Vec<EventInfo> = Vec::new();
        for (id, c) in &catalog.campaigns {
            if c.org != org || only.is_some_and(|o| o != id) {
                continue;
            }
            campaigns.push(conversion_of(catalog, org, id));
            for d in &c.config.events {
                if !events.iter().any(|e| e.id == d.id) {
                    events.push(EventInfo {
                        id: d.id.clone(),
                        name: if d.name.is_empty() {
                            d.id.clone()
                        } else {
                            d.name.clone()
                        },
                        category: Some(d.category.as_str()),
                    });
                }
            }
        }
        Scope {
            org: org.into(),
            campaign: only.map(str::to_owned),
            campaigns,
            events,
        }
    }
}

/// The campaign's conversion event: its organization's or its own event marked `conversion`
/// (the catalog allows at most one; an inactive one still names past conversions), else
/// Base Form Sold.
fn conversion_of(catalog: &Catalog, org: &str, campaign: &str) -> CampaignScope {
    let file = catalog.file.organizations.iter().find(|o| o.id == org);
    let marked = file.and_then(|o| {
        let own = o
            .campaigns
            .iter()
            .filter(|c| c.id == campaign)
            .flat_map(|c| &c.events);
        o.events.iter().chain(own).find(|e| e.conversion)
    });
    CampaignScope {
        id: campaign.into(),
        conversion: marked.map_or(DEFAULT_CONVERSION.into(), |e| e.id.clone()),
        conversion_multi: marked.is_some_and(|e| e.multi),
    }
}

/// What a report counts, for its totals and for each row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Base Events: leads created.
    pub leads: u64,
    /// Base Click Sold events.
    pub clicks: u64,
    /// Base Form Sold events.
    pub forms_sold: u64,
    /// Base Call Sold events.
    pub calls_sold: u64,
    /// Leads that reached their campaign's conversion event (each lead once).
    pub conversions: u64,
    /// `conversions / leads`; `null` without leads.
    pub conversion_rate: Option<f64>,
    /// The count of each event, every listed event named.
    pub events: BTreeMap<String, u64>,
    /// Revenue of the events counted.
    pub revenue: f64,
    /// Payout to the traffic sources of the events counted.
    pub payout: f64,
    /// `revenue - payout`.
    pub margin: f64,
    /// Earnings per click: `revenue / clicks`; `null` without clicks.
    pub epc: Option<f64>,
    /// Bot-flagged events (`bot: true`): counted here always, in the rest only with
    /// `include_bots=true`.
    pub bots: u64,
}

/// One row of a report grouped by time, campaign or traffic source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The day (`2026-11-30`), hour (`2026-11-30T14:00`), campaign or source value (`null`:
    /// events without that parameter).
    pub key: Option<String>,
    /// Where a time row starts (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Its counts.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// One row of a report grouped by event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRow {
    /// Event ID.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Category.
    pub category: Option<&'static str>,
    /// Events counted.
    pub count: u64,
    /// Their revenue.
    pub revenue: f64,
    /// Their payout.
    pub payout: f64,
    /// `revenue - payout`.
    pub margin: f64,
    /// Bot-flagged events of it.
    pub bots: u64,
}

/// A report's rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rows {
    /// By time, campaign or source.
    Metrics(Vec<Row>),
    /// By event.
    Events(Vec<EventRow>),
}

/// A report, as answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The organization.
    pub org: String,
    /// The campaign, for a campaign's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Start, included (Unix ms).
    pub from: i64,
    /// End, excluded (Unix ms).
    pub to: i64,
    /// The time zone of days and hours, as a UTC offset.
    pub tz: String,
    /// What the rows are.
    pub group: &'static str,
    /// Whether bot-flagged events are counted.
    pub include_bots: bool,
    /// The conversion event of each campaign.
    pub conversion_events: BTreeMap<String, String>,
    /// The events counted, in the catalog's order (system events first).
    pub events: Vec<EventInfo>,
    /// The whole range.
    pub totals: Metrics,
    /// Its rows.
    pub rows: Rows,
    /// By traffic source: how many values with the fewest leads are not listed (their events
    /// are in the totals), since a parameter such as a click ID can take a value per visitor.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_out: usize,
}

/// Most traffic-source values a report lists.
pub const MAX_SOURCE_ROWS: usize = 500;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A row's key as SQLite grouped it: a time bucket's number, or a text (campaign, source
/// value; `None` for events without the source parameter).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Bucket(i64),
    Text(Option<String>),
}

/// Sums of one report row as they are added up.
#[derive(Clone, Debug, Default)]
struct Tally {
    metrics: Metrics,
    /// By event: events counted, revenue, payout, bot-flagged events.
    by_event: BTreeMap<String, (u64, f64, f64, u64)>,
}

impl Tally {
    fn add(
        &mut self,
        campaign: &CampaignScope,
        event: &str,
        bot: bool,
        cell: (u64, f64, f64),
        include_bots: bool,
    ) {
        let (count, revenue, payout) = cell;
        let m = &mut self.metrics;
        let e = self.by_event.entry(event.to_owned()).or_default();
        if bot {
            m.bots += count;
            e.3 += count;
            if !include_bots {
                return;
            }
        }
        e.0 += count;
        e.1 += revenue;
        e.2 += payout;
        *m.events.entry(event.to_owned()).or_default() += count;
        match event {
            "base" => m.leads += count,
            "click_sold" => m.clicks += count,
            "form_sold" => m.forms_sold += count,
            "call_sold" => m.calls_sold += count,
            _ => {}
        }
        if event == campaign.conversion && !campaign.conversion_multi {
            m.conversions += count;
        }
        m.revenue += revenue;
        m.payout += payout;
    }

    /// Takes `other`'s sums away (every sum is a count or an amount, so the events of a group
    /// are the whole's less the other groups').
    fn subtract(&mut self, other: &Tally) {
        let (m, o) = (&mut self.metrics, &other.metrics);
        for (mine, theirs) in [
            (&mut m.leads, o.leads),
            (&mut m.clicks, o.clicks),
            (&mut m.forms_sold, o.forms_sold),
            (&mut m.calls_sold, o.calls_sold),
            (&mut m.conversions, o.conversions),
            (&mut m.bots, o.bots),
        ] {
            *mine = mine.saturating_sub(theirs);
        }
        m.revenue -= o.revenue;
        m.payout -= o.payout;
        for (id, n) in &o.events {
            if let Some(mine) = m.events.get_mut(id) {
                *mine = mine.saturating_sub(*n);
            }
        }
        for (id, (n, r, p, b)) in &other.by_event {
            if let Some(mine) = self.by_event.get_mut(id) {
                mine.0 = mine.0.saturating_sub(*n);
                mine.1 -= r;
                mine.2 -= p;
                mine.3 = mine.3.saturating_sub(*b);
            }
        }
    }

    /// Whether it counts no event at all.
    fn is_empty(&self) -> bool {
        self.by_event
            .values()
            .all(|(n, _, _, b)| *n == 0 && *b == 0)
    }

    fn finish(mut self, events: &[EventInfo]) -> Metrics {
        for e in events {
            self.metrics.events.entry(e.id.clone()).or_default();
        }
        let mut m = self.metrics;
        m.revenue = round(m.revenue);
        m.payout = round(m.payout);
        m.margin = round(m.revenue - m.payout);
        m.conversion_rate = (m.leads > 0).then(|| round(m.conversions as f64 / m.leads as f64));
        m.epc = (m.clicks > 0).then(|| round(m.revenue / m.clicks as f64));
        m
    }
}

/// Rounded to millionths: sums of amounts without the floating point's dust (`75.00000000001`,
/// and a difference's `-0.0`, which `+ 0.0` makes `0.0`).
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

/// A value a statement grouped by: a time row's number in the zone, a source value, or none.
#[derive(Clone, Debug, PartialEq)]
pub enum Grouped {
    /// No value (the totals, or events without the source parameter).
    None,
    /// A number: a time row's, or a source value stored as a number.
    Number(i64),
    /// A text: a source value.
    Text(String),
}

/// One row a statement answers: what it grouped by, the campaign, the event, the bot flag, and
/// the events counted with their revenue and payout summed. (A distinct-leads statement
/// answers its count in the first sum, with no campaign or event.)
pub type Found = (Grouped, String, String, bool, (u64, f64, f64));

/// The SQL parameters every statement of a report takes first: `from`, `to` (ms), the zone's
/// offset (ms), the first and last quarter hour, and a time row's length (ms).
pub const FIXED_ARGS: usize = 6;

/// A statement a report needs, for the store to run in its own SQL.
#[derive(Clone, Debug, PartialEq)]
pub enum Ask {
    /// Sums by campaign, event and bot flag over the range.
    Totals,
    /// The same sums, by time row too: `(ts + offset) / row length`.
    Time,
    /// Sums by the value of a source parameter (of the events that have it).
    Source(&'static str),
    /// The distinct leads that reached `event` of `campaign` (bot-flagged ones when `bots`),
    /// in total (`by: None`) or by the report's rows.
    Converted {
        /// The campaign.
        campaign: String,
        /// Its conversion event.
        event: String,
        /// Whether bot-flagged events count.
        bots: bool,
        /// How the leads are grouped.
        by: Option<Group>,
    },
}

/// A report being made: what it covers, what it asks the store, and how the answers add up.
/// Pure: each store runs [`Plan::asks`] in its own SQL and hands the rows to [`Plan::report`].
#[derive(Clone, Debug)]
pub struct Plan {
    scope: Scope,
    params: Params,
    /// The events counted: the catalog's, then those stored but no longer in it.
    events: Vec<EventInfo>,
}

impl Plan {
    /// A report of `scope`, where `stored` are the event IDs stored for its campaigns.
    pub fn new(scope: Scope, params: Params, stored: Vec<String>) -> Plan {
        let mut events = scope.events.clone();
        for id in stored {
            if !events.iter().any(|e| e.id == id) {
                events.push(EventInfo {
                    name: id.clone(),
                    id,
                    category: None,
                });
            }
        }
        Plan {
            scope,
            params,
            events,
        }
    }

    /// The campaigns counted.
    pub fn campaigns(&self) -> Vec<String> {
        self.scope.campaigns.iter().map(|c| c.id.clone()).collect()
    }

    /// The events counted.
    pub fn event_ids(&self) -> Vec<String> {
        self.events.iter().map(|e| e.id.clone()).collect()
    }

    /// The statements' first parameters ([`FIXED_ARGS`] of them).
    pub fn fixed_args(&self) -> [i64; FIXED_ARGS] {
        let p = &self.params;
        [
            p.from,
            p.to,
            p.offset_ms,
            p.from.div_euclid(QUARTER_MS),
            (p.to - 1).div_euclid(QUARTER_MS),
            p.group.bucket_ms().unwrap_or(DAY_MS),
        ]
    }

    /// What to ask the store, in order.
    pub fn asks(&self) -> Vec<Ask> {
        if self.scope.campaigns.is_empty() {
            return Vec::new();
        }
        let group = self.params.group;
        let mut asks = vec![match group {
            Group::Hour | Group::Day => Ask::Time,
            _ => Ask::Totals,
        }];
        if let Group::Source(i) = group {
            asks.push(Ask::Source(REPORT_SOURCES[i]));
        }
        for c in self.scope.campaigns.iter().filter(|c| c.conversion_multi) {
            for by in [None, Some(group)] {
                asks.push(Ask::Converted {
                    campaign: c.id.clone(),
                    event: c.conversion.clone(),
                    bots: self.params.include_bots,
                    by,
                });
            }
        }
        asks
    }

    /// The report from the answers to [`Plan::asks`], in the same order.
    pub fn report(self, answers: Vec<Vec<Found>>) -> Report {
        let Plan {
            scope,
            params,
            events,
        } = self;
        let group = params.group;
        let mut totals = Tally::default();
        let mut rows: BTreeMap<Key, Tally> = BTreeMap::new();
        let by_id: BTreeMap<&str, &CampaignScope> =
            scope.campaigns.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut answers = answers.into_iter();
        if !scope.campaigns.is_empty() {
            let grouped = !matches!(group, Group::Source(_));
            for (k, campaign, event, bot, cell) in answers.next().unwrap_or_default() {
                let Some(c) = by_id.get(campaign.as_str()) else {
                    continue;
                };
                totals.add(c, &event, bot, cell, params.include_bots);
                if grouped {
                    rows.entry(key_of(group, k, &campaign, &event))
                        .or_default()
                        .add(c, &event, bot, cell, params.include_bots);
                }
            }
            if let Group::Source(_) = group {
                for (k, campaign, event, bot, cell) in answers.next().unwrap_or_default() {
                    if let Some(c) = by_id.get(campaign.as_str()) {
                        rows.entry(key_of(group, k, &campaign, &event))
                            .or_default()
                            .add(c, &event, bot, cell, params.include_bots);
                    }
                }
                // The events without the parameter: all the others.
                let mut rest = totals.clone();
                for t in rows.values() {
                    rest.subtract(t);
                }
                if !rest.is_empty() {
                    rows.insert(Key::Text(None), rest);
                }
            }
            // A conversion event that may fire more than once per lead: its leads, each once.
            for c in scope.campaigns.iter().filter(|c| c.conversion_multi) {
                for by in [None, Some(group)] {
                    for (k, _, _, _, (n, _, _)) in answers.next().unwrap_or_default() {
                        match by {
                            None => totals.metrics.conversions += n,
                            Some(g) => {
                                let key = key_of(g, k, &c.id, &c.conversion);
                                rows.entry(key).or_default().metrics.conversions += n;
                            }
                        }
                    }
                }
            }
        }
        let mut left_out = 0;
        let rows = match group {
            Group::Event => Rows::Events(event_rows(&totals, &events)),
            Group::Hour | Group::Day => Rows::Metrics(time_rows(rows, &params, &events)),
            Group::Campaign => {
                for c in &scope.campaigns {
                    rows.entry(Key::Text(Some(c.id.clone()))).or_default();
                }
                Rows::Metrics(key_rows(rows, &events, false))
            }
            Group::Source(_) => {
                let mut listed = key_rows(rows, &events, true);
                // Sorted by leads, the values without the parameter last: keep the first values
                // and that last row; the rest are counted in the totals, and their number said.
                let valued = listed.iter().filter(|r| r.key.is_some()).count();
                if valued > MAX_SOURCE_ROWS {
                    left_out = valued - MAX_SOURCE_ROWS;
                    let without = listed.pop_if(|r| r.key.is_none());
                    listed.truncate(MAX_SOURCE_ROWS);
                    listed.extend(without);
                }
                Rows::Metrics(listed)
            }
        };
        Report {
            org: scope.org.clone(),
            campaign: scope.campaign.clone(),
            from: params.from,
            to: params.to,
            tz: offset_name(params.offset_ms),
            group: group.name(),
            include_bots: params.include_bots,
            conversion_events: scope
                .campaigns
                .iter()
                .map(|c| (c.id.clone(), c.conversion.clone()))
                .collect(),
            totals: totals.finish(&events),
            events,
            rows,
            left_out,
        }
    }
}

fn key_of(group: Group, k: Grouped, campaign: &str, event: &str) -> Key {
    match (group, k) {
        (Group::Hour | Group::Day, Grouped::Number(n)) => Key::Bucket(n),
        (Group::Campaign, _) => Key::Text(Some(campaign.into())),
        (Group::Event, _) => Key::Text(Some(event.into())),
        (_, Grouped::Text(t)) => Key::Text(Some(t)),
        (_, Grouped::Number(n)) => Key::Text(Some(n.to_string())),
        _ => Key::Text(None),
    }
}

fn event_rows(totals: &Tally, events: &[EventInfo]) -> Vec<EventRow> {
    events
        .iter()
        .map(|e| {
            let (count, revenue, payout, bots) =
                totals.by_event.get(&e.id).copied().unwrap_or_default();
            EventRow {
                key: e.id.clone(),
                name: e.name.clone(),
                category: e.category,
                count,
                revenue: round(revenue),
                payout: round(payout),
                margin: round(round(revenue) - round(payout)),
                bots,
            }
        })
        .collect()
}

/// Every bucket of the range, those without events too (a chart's line goes through zero).
fn time_rows(mut rows: BTreeMap<Key, Tally>, params: &Params, events: &[EventInfo]) -> Vec<Row> {
    let Some(size) = params.group.bucket_ms() else {
        return Vec::new();
    };
    let first = (params.from + params.offset_ms).div_euclid(size);
    let last = (params.to - 1 + params.offset_ms).div_euclid(size);
    (first..=last)
        .map(|b| {
            let tally = rows.remove(&Key::Bucket(b)).unwrap_or_default();
            let start = b * size - params.offset_ms;
            Row {
                key: Some(bucket_name(b * size, params.group)),
                start: Some(start),
                metrics: tally.finish(events),
            }
        })
        .collect()
}

/// Rows by campaign (in ID order) or by source value (most leads first; events without the
/// parameter last).
fn key_rows(rows: BTreeMap<Key, Tally>, events: &[EventInfo], by_leads: bool) -> Vec<Row> {
    let mut out: Vec<Row> = rows
        .into_iter()
        .map(|(k, t)| Row {
            key: match k {
                Key::Text(t) => t,
                Key::Bucket(b) => Some(b.to_string()),
            },
            start: None,
            metrics: t.finish(events),
        })
        .collect();
    if by_leads {
        out.sort_by(|a, b| {
            (a.key.is_none(), std::cmp::Reverse(a.metrics.leads), &a.key).cmp(&(
                b.key.is_none(),
                std::cmp::Reverse(b.metrics.leads),
                &b.key,
            ))
        });
    }
    out
}

/// A bucket's name in its zone: `2026-11-30` (day) or `2026-11-30T14:00` (hour), from the
/// bucket's start in local ms since the epoch.
fn bucket_name(local_ms: i64, group: Group) -> String {
    let days = local_ms.div_euclid(DAY_MS);
    let date = i32::try_from(days + UNIX_EPOCH_JULIAN_DAY)
        .ok()
        .and_then(|jd| time::Date::from_julian_day(jd).ok());
    let Some(date) = date else {
        return local_ms.to_string();
    };
    let day = format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    match group {
        Group::Hour => format!("{day}T{:02}:00", local_ms.rem_euclid(DAY_MS) / HOUR_MS),
        _ => day,
    }
}

/// `+02:00`, `-05:30`, `+00:00`.
fn offset_name(offset_ms: i64) -> String {
    let minutes = offset_ms.abs() / 60_000;
    let sign = if offset_ms < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

async fn answer(app: &App, scope: Scope, query: &[(String, String)]) -> Response {
    let params = match Params::read(query, now_ms()) {
        Ok(p) => p,
        Err(bad) => return bad.response(),
    };
    match app.store.report(scope, params).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => crate::unavailable(&e),
    }
}

/// `GET /v1/reports/campaigns/{campaign}`.
async fn campaign_report(
    State(app): State<App>,
    reader: Reader,
    Path(campaign): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let scope = {
        let catalog = app.catalog.read().unwrap_or_else(|e| e.into_inner());
        Scope::campaign(&catalog, &campaign)
    };
    if !reader.may_read(scope.as_ref().map(|s| s.org.as_str())) {
        return auth::forbidden(&format!("campaign {campaign:?}"));
    }
    match scope {
        Some(scope) => answer(&app, scope, &query).await,
        None => crate::error(
            StatusCode::NOT_FOUND,
            format!("unknown campaign {campaign:?}"),
        ),
    }
}

/// `GET /v1/reports/orgs/{org}`.
async fn org_report(
    State(app): State<App>,
    reader: Reader,
    Path(org): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if !reader.may_read(Some(&org)) {
        return auth::forbidden(&format!("organization {org:?}"));
    }
    let scope = {
        let catalog = app.catalog.read().unwrap_or_else(|e| e.into_inner());
        Scope::org(&catalog, &org)
    };
    match scope {
        Some(scope) => answer(&app, scope, &query).await,
        None => crate::error(
            StatusCode::NOT_FOUND,
            format!("unknown organization {org:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_532_800_000; // 2025-11-30T20:00:00Z

    fn read(q: &[(&str, &str)]) -> Result<Params, BadParameter> {
        let q: Vec<(String, String)> = q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Params::read(&q, NOW)
    }

    fn bad(q: &[(&str, &str)]) -> (String, String) {
        let b = read(q).unwrap_err();
        (b.name, b.reason)
    }

    #[test]
    fn times_are_ms_or_iso_dates_in_the_zone() {
        let day = parse_time("2025-11-30", 0, false).unwrap();
        assert_eq!(day, 1_764_460_800_000);
        assert_eq!(parse_time("2025-11-30", 0, true), Some(day + DAY_MS));
        assert_eq!(
            parse_time("2025-11-30", 2 * HOUR_MS, false),
            Some(day - 2 * HOUR_MS)
        );
        assert_eq!(parse_time("2025-11-30T20:00", 0, false), Some(NOW));
        assert_eq!(
            parse_time("2025-11-30T20:00:00Z", 5 * HOUR_MS, false),
            Some(NOW)
        );
        assert_eq!(
            parse_time("2025-11-30T22:00:00.5+02:00", 0, false),
            Some(NOW + 500)
        );
        assert_eq!(parse_time("2025-11-30T15:00-05:00", 0, false), Some(NOW));
        assert_eq!(parse_time("1764532800000", 0, false), Some(NOW));
        for nonsense in [
            "",
            "2025-13-01",
            "2025-02-30",
            "2025-11-30T24:00",
            "2025/11/30",
            "yesterday",
            "2025-11-30T20",
            "-5",
            "2025-11-30T20:00+2",
        ] {
            assert_eq!(parse_time(nonsense, 0, false), None, "{nonsense}");
        }
        assert_eq!(parse_offset("+05:30"), Some(330 * 60_000));
        assert_eq!(parse_offset(" 02:00"), Some(2 * HOUR_MS));
        assert_eq!(parse_offset("-14:00"), Some(-14 * HOUR_MS));
        assert_eq!(parse_offset("+14:30"), None);
        assert_eq!(parse_offset("+05:45"), Some(345 * 60_000));
        assert_eq!(parse_offset("+05:10"), None, "not a whole quarter hour");
        assert_eq!(parse_offset("Europe/Berlin"), None);
        assert_eq!(offset_name(-330 * 60_000), "-05:30");
    }

    #[test]
    fn defaults_are_the_last_seven_days_by_day_without_bots() {
        let p = read(&[]).unwrap();
        assert_eq!(p.to, NOW);
        assert_eq!(p.from, parse_time("2025-11-24", 0, false).unwrap());
        assert_eq!(
            (p.group, p.include_bots, p.offset_ms),
            (Group::Day, false, 0)
        );
        // In another zone, its days.
        let p = read(&[("tz", "+05:00")]).unwrap();
        assert_eq!(
            p.from,
            parse_time("2025-11-25", 5 * HOUR_MS, false).unwrap()
        );
        let p = read(&[
            ("from", "2025-11-01"),
            ("to", "2025-11-30"),
            ("group", "sub3"),
            ("include_bots", "true"),
        ])
        .unwrap();
        assert_eq!(p.to - p.from, 30 * DAY_MS);
        assert_eq!((p.group, p.include_bots), (Group::Source(3), true));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(bad(&[("form", "1")]).0, "form");
        assert_eq!(
            bad(&[("from", "1"), ("from", "2")]),
            ("from".into(), "given more than once".into())
        );
        assert!(bad(&[("from", "monday")])
            .1
            .starts_with("\"monday\" is neither a time in Unix ms"));
        assert_eq!(bad(&[("to", "2025-13-01")]).0, "to");
        assert_eq!(bad(&[("group", "week")]).0, "group");
        assert!(bad(&[("group", "week")])
            .1
            .contains("hour, day, event, campaign, utm_source"));
        assert_eq!(bad(&[("include_bots", "1")]).0, "include_bots");
        assert_eq!(bad(&[("tz", "CET")]).0, "tz");
        assert_eq!(
            bad(&[("from", "2025-12-01"), ("to", "2025-11-01")]).0,
            "from"
        );
        let (name, reason) = bad(&[("from", "2025-01-01"), ("group", "hour")]);
        assert_eq!(name, "group");
        assert!(
            reason.contains("group by day or choose a shorter range"),
            "{reason}"
        );
        assert!(read(&[("from", "2025-01-01"), ("group", "day")]).is_ok());
    }

    #[test]
    fn buckets_are_named_in_their_zone() {
        let day = parse_time("2025-11-30", 0, false).unwrap();
        assert_eq!(bucket_name(day, Group::Day), "2025-11-30");
        assert_eq!(
            bucket_name(day + 14 * HOUR_MS, Group::Hour),
            "2025-11-30T14:00"
        );
        assert_eq!(bucket_name(-HOUR_MS, Group::Hour), "1969-12-31T23:00");
    }
}
