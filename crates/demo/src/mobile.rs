//! Mobile app traffic for a second demo project: Vigil Shop's Android (about 60%) and iOS
//! apps, as the OpenTelemetry mobile SDKs' data looks once the OTLP mapping has made it
//! protocol events (`crates/otlp/src/mobile.rs`): an app start per session, screens with
//! the API calls they make, crashes, ANRs and hangs, on devices, OS versions, carriers and
//! networks across the web demo's countries.
//!
//! The data tells two stories. Release 3.5.0, half-way through the period, starts cold
//! about 45% slower and brings an Android crash on checkout; 3.5.1 fixes both. And the
//! low-end Android phones and iOS 16 devices crash and hang more. Everything goes through
//! the real enrichment and crash grouping, as intake would do it.

mod calls;
mod catalog;
mod problems;

use crate::{COUNTRIES, Country, Rng};
use catalog::{Model, Network, Platform, RELEASES, Screen};
use problems::{CRASH_KINDS, CrashKind, HANG_KINDS};
use std::collections::BTreeMap;
use vigil_enrich::{ClientInfo, Enricher};
use vigil_errors::{ErrorProcessor, PageContext};
use vigil_model::{IngestBatch, ProjectId};
use vigil_protocol::{
    Agent, App, AppStart, Batch, Connection, Context, Device, Event, EventBody, Os,
    PROTOCOL_VERSION, Scalar, ScreenLoad, Text,
};

/// What to generate.
#[derive(Debug, Clone)]
pub struct MobileConfig {
    /// App sessions to generate.
    pub sessions: usize,
    /// Days of history, ending at `end_ms`.
    pub days: u32,
    /// End of the generated period, ms since the epoch.
    pub end_ms: i64,
    /// Seed; the same seed gives the same data.
    pub seed: u64,
}

/// Longer than any session lasts (an app start and at most twelve screens of at most 150 s
/// each): sessions start at least this long before the end, so none runs into the future.
const LONGEST_SESSION_MS: i64 = 35 * 60_000;

/// One app session's circumstances.
struct Session {
    id: String,
    platform: Platform,
    model: &'static Model,
    os_name: &'static str,
    os_version: &'static str,
    os_major: u32,
    /// Index into [`RELEASES`].
    release: usize,
    country: &'static Country,
    network: Network,
    carrier: Option<&'static str>,
    user_id: Option<String>,
}

/// How often something happens, spread evenly: each session adds its chance, and the event
/// happens when the running total passes the next mark (marks 0.5 to 1.5 apart). Over many
/// sessions that is each session's own chance, and a demo of a few dozen sessions still
/// shows one: the first mark is at most 0.3 in.
struct Incidence {
    total: f64,
    next: f64,
}

impl Incidence {
    fn new(r: &mut Rng) -> Self {
        Self {
            total: 0.0,
            next: 0.3 * r.unit(),
        }
    }

    /// Which of the kinds a session with these chances meets, if any.
    fn meets<K: Copy>(&mut self, r: &mut Rng, chances: &[(K, f64)]) -> Option<K> {
        self.total += chances.iter().map(|c| c.1).sum::<f64>();
        if self.total < self.next {
            return None;
        }
        self.next += 0.5 + r.unit();
        let weights: Vec<f64> = chances.iter().map(|c| c.1).collect();
        Some(chances[r.weighted(&weights)].0)
    }
}

/// Generates the mobile demo's batches.
pub struct MobileGenerator {
    config: MobileConfig,
    project: ProjectId,
    rng: Rng,
    enricher: Enricher,
    errors: ErrorProcessor,
    crashes: Incidence,
    hangs: Incidence,
    made: usize,
}

impl MobileGenerator {
    /// A generator for one project.
    pub fn new(project: ProjectId, config: MobileConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let crashes = Incidence::new(&mut rng);
        let hangs = Incidence::new(&mut rng);
        Self {
            config,
            project,
            rng,
            enricher: Enricher::default(),
            errors: ErrorProcessor::default(),
            crashes,
            hangs,
            made: 0,
        }
    }

    /// Sessions generated so far.
    pub fn sessions(&self) -> usize {
        self.made
    }

    fn session(&mut self) -> Session {
        let r = &mut self.rng;
        let platform = if r.chance(0.6) {
            Platform::Android
        } else {
            Platform::Ios
        };
        let model = catalog::model(r, platform);
        let (os_name, os_version, os_major) = catalog::os_version(r, model);
        let country =
            &COUNTRIES[r.weighted(&COUNTRIES.iter().map(|c| c.weight).collect::<Vec<_>>())];
        let network = Network::draw(r, country.distance);
        // The SDKs name the carrier only on a cellular network.
        let carrier = (network != Network::Wifi).then(|| {
            let names = catalog::carriers(country.code);
            // The biggest operator has the most subscribers.
            let weights: Vec<f64> = (0..names.len()).map(|i| 1.0 / (i as f64 + 1.5)).collect();
            names[r.weighted(&weights)]
        });
        Session {
            id: r.hex(32),
            platform,
            model,
            os_name,
            os_version,
            os_major,
            release: 0,
            country,
            network,
            carrier,
            user_id: r.chance(0.4).then(|| format!("u{}", r.below(20_000))),
        }
    }

    /// A start time in the period (leaving room for the session before its end), more
    /// likely in the country's daytime, and where it falls in the period (0 to 1).
    fn start_time(&mut self, country: &Country) -> (i64, f64) {
        let span = (i64::from(self.config.days) * 86_400_000 - LONGEST_SESSION_MS).max(1);
        let first = self.config.end_ms - LONGEST_SESSION_MS - span;
        loop {
            let at = self.rng.unit();
            let t = first + (at * span as f64) as i64;
            let local_hour = ((t as f64 / 3_600_000.0) + country.utc_offset).rem_euclid(24.0);
            let weight = 0.25
                + 0.75 * (((local_hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5);
            if self.rng.unit() < weight {
                return (t, at);
            }
        }
    }

    /// The screens the user visits, from Home: two to ten.
    fn journey(&mut self) -> Vec<Screen> {
        let r = &mut self.rng;
        let n = 2 + r.weighted(&[14.0, 13.0, 12.0, 11.0, 10.0, 9.0, 8.0, 7.0, 6.0]);
        let mut screens = vec![Screen::Home];
        while screens.len() < n {
            let next = screens[screens.len() - 1].next(r);
            screens.push(next);
        }
        screens
    }

    /// The next session's batches (one per screen), or `None` when done.
    pub fn next_session(&mut self) -> Option<Vec<IngestBatch>> {
        if self.made >= self.config.sessions {
            return None;
        }
        self.made += 1;
        let mut s = self.session();
        let (start, at) = self.start_time(s.country);
        s.release = catalog::release(&mut self.rng, at);
        let mut screens = self.journey();
        let r = &mut self.rng;
        let crash_chances = CRASH_KINDS.map(|k| (k, k.hazard(&s)));
        let crash = self.crashes.meets(r, &crash_chances);
        let hang_chances = HANG_KINDS.map(|k| (k, k.hazard(&s)));
        let hang = self.hangs.meets(r, &hang_chances);
        // A problem happens on its screen, and the ANR of a session that crashes happens
        // before the crash (which ends it).
        let mut crash_at = crash.map(|k| visit(r, &mut screens, k.screen(), None));
        let hang_at = hang.map(|k| {
            let before = screens.len();
            let at = visit(r, &mut screens, k.screen(), crash_at);
            if screens.len() > before {
                crash_at = crash_at.map(|c| c + 1);
            }
            at
        });

        let context = context(&s);
        let mut out = Vec::new();
        let (app_start, mut t) = self.app_start(&s, start, screens[0]);
        let mut events = vec![app_start];
        for (i, &screen) in screens.iter().enumerate() {
            let r = &mut self.rng;
            let dwell = r.lognormal(18_000.0, 0.8).clamp(2_000.0, 150_000.0) as i64;
            let crash_here = crash.filter(|_| crash_at == Some(i));
            let (calls, wait) = calls::screen_calls(
                r,
                &s,
                screen,
                t,
                dwell,
                crash_here == Some(CrashKind::ProductNull),
            );
            let duration = (r.lognormal(screen.draw_ms() * speed(&s), 0.4) + wait).round();
            let name = screen.name(s.platform);
            events.push(on_screen(
                t,
                name,
                EventBody::ScreenLoad(ScreenLoad {
                    screen: name.to_owned().into(),
                    duration,
                }),
            ));
            events.extend(calls);
            events.extend(janks(&s, i, screen, name, t + duration as i64, dwell));
            // A problem comes once the screen shows (a missing product as it arrives),
            // while the user is on it. What had not finished when the app died is lost.
            let mut ended = None;
            if let Some(kind) = hang.filter(|_| hang_at == Some(i)) {
                let ts =
                    t + (duration + (dwell as f64 - duration).max(0.0) * 0.15 * r.unit()) as i64;
                events.push(on_screen(ts, name, EventBody::Anr(kind.event(r, &s))));
                // Android offers to close the app; some users do (not one that crashes later).
                if crash.is_none() && s.platform == Platform::Android && r.chance(0.4) {
                    ended = Some(ts);
                }
            }
            if let Some(kind) = crash_here {
                let ts = if kind == CrashKind::ProductNull {
                    t + wait as i64 + 3
                } else {
                    let after = (dwell as f64 - duration).max(0.0) * (0.2 + 0.5 * r.unit());
                    t + (duration + after) as i64
                };
                events.push(on_screen(ts, name, EventBody::Crash(kind.event(r, &s))));
                ended = Some(ts);
            }
            if let Some(end) = ended {
                events.retain(|e| finished_by(e, end));
            }
            events.sort_by_key(|e| e.ts);
            out.push(self.batch(&s, &context, std::mem::take(&mut events)));
            if ended.is_some() {
                break;
            }
            t += dwell;
        }
        Some(out)
    }

    /// The session's app start (cold for most), and when the first screen begins.
    fn app_start(&mut self, s: &Session, start: i64, first: Screen) -> (Event, i64) {
        let r = &mut self.rng;
        let release = &RELEASES[s.release];
        let cold = r.chance(0.7);
        let (base, spread) = match (s.platform, cold) {
            (Platform::Android, true) => (1050.0, 0.3),
            (Platform::Ios, true) => (780.0, 0.3),
            (Platform::Android, false) => (380.0, 0.35),
            (Platform::Ios, false) => (260.0, 0.35),
        };
        let duration = if cold {
            // A cold start also waits for the remote config, over the session's network.
            let config = 60.0 * s.network.slowness() * s.country.distance.sqrt();
            r.lognormal(base * speed(s) * release.cold_start + config, spread)
        } else {
            r.lognormal(
                base * speed(s) * (1.0 + (release.cold_start - 1.0) * 0.2),
                spread,
            )
        }
        .round();
        let event = on_screen(
            start,
            first.name(s.platform),
            EventBody::AppStart(AppStart {
                start_type: if cold { "cold" } else { "warm" }.into(),
                duration,
            }),
        );
        (event, start + duration as i64)
    }

    /// A batch as intake makes it from an SDK's export: crashes grouped, then enriched.
    fn batch(&self, s: &Session, context: &Context, events: Vec<Event>) -> IngestBatch {
        let wire = Batch {
            v: PROTOCOL_VERSION,
            key: None,
            context: context.clone(),
            events,
        };
        let errors = if ErrorProcessor::has_errors(&wire.events) {
            self.errors
                .analyse_batch(self.project, &PageContext::default(), &wire.events)
        } else {
            Vec::new()
        };
        let mut batch = self
            .enricher
            .enrich(self.project, wire, &ClientInfo::default());
        batch.errors = errors;
        // The demo has no client addresses; it sets the country the geo lookup would give.
        batch.common.country = s.country.code.to_owned().into();
        batch
    }
}

/// How much slower than a flagship on the newest OS the session's device draws.
fn speed(s: &Session) -> f64 {
    let os = match (s.platform, s.os_major) {
        (Platform::Android, 12) => 1.12,
        (Platform::Android, 13) => 1.05,
        (Platform::Ios, 16) => 1.08,
        _ => 1.0,
    };
    s.model.slowness * os
}

/// The screen of the session's problem: its first visit at or before `crash_at` (or any),
/// else a visit inserted after Home. Returns where it is.
fn visit(r: &mut Rng, screens: &mut Vec<Screen>, screen: Screen, crash_at: Option<usize>) -> usize {
    let last = crash_at.unwrap_or(screens.len() - 1);
    if let Some(i) = screens[..=last].iter().position(|x| *x == screen) {
        return i;
    }
    let at = 1 + r.below(last);
    screens.insert(at, screen);
    at
}

/// A share in [0, 1) from the session, the visit and a salt: jank's own dice, so adding it
/// left the rest of the demo's random stream as it was.
fn dice(session: &str, visit: usize, salt: u64) -> f64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in session.bytes().chain((visit as u64).to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    ((h ^ (h >> 29)) % 1_000_000) as f64 / 1_000_000.0
}

/// Slow and frozen frames on a visit, as the Android agent's `app.jank` events report them
/// (frames over 16 ms and over 700 ms per one-second period): more on lists and search,
/// which scroll, and on slow phones; a frozen frame now and then on Checkout.
fn janks(
    s: &Session,
    visit: usize,
    screen: Screen,
    name: &str,
    shown: i64,
    dwell: i64,
) -> Vec<Event> {
    // opentelemetry-swift reports no jank of its own.
    if s.platform != Platform::Android {
        return Vec::new();
    }
    let scrolls = matches!(screen, Screen::ProductList | Screen::Search | Screen::Home);
    let slowness = speed(s);
    let mut out = Vec::new();
    let chance = if scrolls { 0.35 } else { 0.08 } * slowness.powi(2);
    if dice(&s.id, visit, 1) < chance.min(0.95) {
        let frames = (2.0 + 30.0 * dice(&s.id, visit, 2) * slowness).round() as u32;
        out.push(on_screen(
            shown + (dwell / 3).max(1),
            name,
            EventBody::Jank(vigil_protocol::Jank {
                frame_count: frames,
                period: Some(1000.0),
                threshold: Some(16.0),
            }),
        ));
    }
    let frozen = if screen == Screen::Checkout {
        0.06
    } else {
        0.01
    } * slowness.powi(3);
    if dice(&s.id, visit, 3) < frozen {
        out.push(on_screen(
            shown + (dwell / 2).max(1),
            name,
            EventBody::Jank(vigil_protocol::Jank {
                frame_count: 1 + (dice(&s.id, visit, 4) * 2.0) as u32,
                period: Some(1000.0),
                threshold: Some(700.0),
            }),
        ));
    }
    out
}

/// Whether an event had ended by `end` (an SDK reports a span when it ends).
fn finished_by(e: &Event, end: i64) -> bool {
    let took = match &e.body {
        EventBody::Request(q) => q.duration,
        EventBody::ScreenLoad(l) => l.duration,
        EventBody::AppStart(a) => a.duration,
        _ => 0.0,
    };
    e.ts + took as i64 <= end
}

/// An event on a screen: the mapping sets each event's page to the screen's name.
fn on_screen(ts: i64, screen: &str, body: EventBody) -> Event {
    Event {
        ts,
        view_id: None,
        page_url: Some(screen.to_owned().into()),
        body,
    }
}

/// The batch context the OTLP mapping makes of the SDK's resource and attributes.
fn context(s: &Session) -> Context {
    let release = &RELEASES[s.release];
    let (kind, generation) = s.network.kind();
    let mut attributes = BTreeMap::new();
    if let Some(subtype) = s.network.subtype(s.platform) {
        attributes.insert(
            "network.connection.subtype".to_owned(),
            Scalar::String(subtype.into()),
        );
        attributes.insert(
            "network.carrier.icc".to_owned(),
            Scalar::String(s.country.code.to_ascii_lowercase()),
        );
    }
    let (agent, agent_version) = s.platform.agent();
    Context {
        session_id: s.id.clone().into(),
        agent: Agent {
            name: agent.into(),
            version: agent_version.into(),
        },
        connection: Some(Connection {
            kind: Some(kind.into()),
            effective_type: generation.map(Text::from),
            rtt: None,
            downlink: None,
        }),
        user_id: s.user_id.as_deref().map(Text::from),
        release: Some(release.version.into()),
        environment: Some("production".into()),
        attributes,
        app: Some(App {
            name: s.platform.app_name().into(),
            version: release.version.into(),
            build: Some(
                match s.platform {
                    Platform::Android => release.android_build,
                    Platform::Ios => release.ios_build,
                }
                .into(),
            ),
        }),
        os: Some(Os {
            name: s.os_name.into(),
            version: s.os_version.into(),
        }),
        device: Some(Device {
            model: s.model.name.into(),
            manufacturer: Some(s.model.manufacturer.into()),
            kind: Some(if s.model.tablet { "tablet" } else { "mobile" }.into()),
        }),
        carrier: s.carrier.map(Text::from),
        ..Context::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    fn config(sessions: usize, seed: u64) -> MobileConfig {
        MobileConfig {
            sessions,
            days: 7,
            end_ms: 1_764_000_000_000,
            seed,
        }
    }

    fn all(sessions: usize, seed: u64) -> Vec<Vec<IngestBatch>> {
        let mut g = MobileGenerator::new(1, config(sessions, seed));
        std::iter::from_fn(|| g.next_session()).collect()
    }

    /// The 75th percentile (nearest rank).
    fn p75(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[(values.len() * 3).div_ceil(4).saturating_sub(1)]
    }

    fn has(session: &[IngestBatch], kind: &str) -> bool {
        session
            .iter()
            .flat_map(|b| &b.events)
            .any(|e| e.body.kind() == kind)
    }

    #[test]
    fn same_seed_same_data() {
        let (a, b) = (all(300, 5), all(300, 5));
        assert_eq!(a.len(), 300);
        assert_eq!(a, b);
        assert_ne!(a, all(300, 6));
    }

    #[test]
    fn sessions_look_like_the_otlp_mapping_made_them() {
        let sessions = all(500, 2);
        let mut agents = BTreeSet::new();
        for session in &sessions {
            let first = &session[0];
            assert_eq!(first.events[0].body.kind(), "app_start");
            for b in session {
                assert_eq!(b.common.session_id, first.common.session_id);
                agents.insert(b.common.agent.clone());
                assert!(["com.vigil.shop", "VigilShop"].contains(&b.common.app_name.as_str()));
                assert!(!b.common.country.is_empty() && !b.common.device_model.is_empty());
                let cellular = b.common.connection_type == "cellular";
                assert_eq!(cellular, !b.common.carrier.is_empty());
                assert_eq!(
                    cellular,
                    b.common.attributes.contains("network.connection.subtype")
                );
                for e in &b.events {
                    e.check().expect("valid event");
                    assert!(e.page_url.as_deref().is_some_and(|p| !p.contains('/')));
                    if let EventBody::Request(q) = &e.body {
                        assert_eq!(q.api.as_deref(), Some("http"));
                        assert!(q.url.starts_with("https://api.vigilshop.example/api/"));
                        assert_eq!(q.trace_id.as_ref().map(|t| t.len()), Some(32));
                        assert_eq!((q.span_id.as_deref(), q.trace_sampled), (None, Some(true)));
                    }
                }
            }
            // A crash ends the session.
            let crash = session
                .iter()
                .flat_map(|b| &b.events)
                .position(|e| e.body.kind() == "crash");
            let events = session.iter().map(|b| b.events.len()).sum::<usize>();
            assert!(
                crash.is_none_or(|i| i == events - 1),
                "events after a crash"
            );
        }
        assert_eq!(
            agents,
            BTreeSet::from(["opentelemetry-android".into(), "opentelemetry-swift".into()])
        );
    }

    #[test]
    fn crashes_and_anrs_come_at_their_rates_and_small_demos_have_both() {
        let sessions = all(6000, 42);
        let share =
            |kind| sessions.iter().filter(|s| has(s, kind)).count() as f64 / sessions.len() as f64;
        let (crashed, blocked) = (share("crash"), share("anr"));
        assert!(
            (0.02..=0.03).contains(&crashed),
            "crashed sessions {crashed}"
        );
        assert!(
            (0.007..=0.015).contains(&blocked),
            "sessions with an ANR {blocked}"
        );
        for seed in 0..50 {
            let small = all(60, seed);
            assert!(
                small.iter().any(|s| has(s, "crash")),
                "seed {seed}: no crash"
            );
            assert!(small.iter().any(|s| has(s, "anr")), "seed {seed}: no ANR");
        }
    }

    #[test]
    fn every_crash_is_grouped_and_each_problem_is_one_group() {
        let mut groups = BTreeSet::new();
        let mut crashes = 0;
        for b in all(6000, 42).iter().flatten() {
            for (i, e) in b.events.iter().enumerate() {
                if e.body.kind() != "crash" {
                    continue;
                }
                crashes += 1;
                let analysis = b.errors.iter().find(|(at, _)| *at == i).map(|(_, a)| a);
                let analysis = analysis.expect("every crash is analysed");
                assert_eq!(analysis.fingerprint.len(), 32);
                // Grouped by the app's own frames, which the stack parser found.
                assert!(
                    analysis.grouping.contains("\"in_app_frames\""),
                    "{}",
                    analysis.grouping
                );
                let culprit = &analysis.culprit;
                assert!(
                    culprit.starts_with("com.vigil.shop.") || culprit.contains(".swift:"),
                    "culprit {culprit}"
                );
                groups.insert(analysis.fingerprint.clone());
            }
        }
        assert!(crashes > 100, "{crashes} crashes");
        assert_eq!(groups.len(), CRASH_KINDS.len());
    }

    #[test]
    fn release_3_5_0_starts_cold_slower_and_3_5_1_fixes_it() {
        let mut cold: HashMap<String, Vec<f64>> = HashMap::new();
        for b in all(6000, 42).iter().flatten() {
            for e in &b.events {
                if let EventBody::AppStart(a) = &e.body
                    && a.start_type == "cold"
                {
                    cold.entry(b.common.app_version.to_string())
                        .or_default()
                        .push(a.duration);
                }
            }
        }
        let p = |v: &str| p75(cold[v].clone());
        let (old, bad, fixed) = (p("3.4.0"), p("3.5.0"), p("3.5.1"));
        assert!(
            bad > 1.2 * old && bad > 1.2 * fixed,
            "cold p75 3.4.0 {old}, 3.5.0 {bad}, 3.5.1 {fixed}"
        );
        let overall = p75(cold.into_values().flatten().collect());
        assert!((1500.0..=2500.0).contains(&overall), "cold p75 {overall}");
    }
}
