//! Realistic demo traffic: sessions across 40 countries, desktop, mobile and tablet, five
//! browsers, wifi, 4g and 3g; vitals that are slower on 3g, on low-end phones and far from
//! the origin (Frankfurt); errors, API calls, SPA route changes, clicks, forms, and business
//! events whose conversion falls as LCP rises. Everything goes through the real enrichment
//! pipeline and the real store. `vigil demo` and the benchmarks use it.
//!
//! [`MobileGenerator`] makes a second project's mobile app traffic: Android and iOS
//! sessions with app starts, screens, API calls, crashes, ANRs and hangs.

mod backend;
mod mobile;
mod rng;
mod view;

pub use backend::backend_spans;
pub use mobile::{MobileConfig, MobileGenerator};
pub use rng::Rng;

use view::Journey;
use vigil_enrich::Enricher;
use vigil_model::{IngestBatch, ProjectId};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Page views (hard and soft navigations) to generate.
    pub page_views: usize,
    /// Days of history, ending at `end_ms`.
    pub days: u32,
    /// End of the generated period, ms since the epoch.
    pub end_ms: i64,
    /// Seed; the same seed gives the same data.
    pub seed: u64,
    /// Only page views and their LCP (for the storage and query benchmarks).
    pub lean: bool,
}

struct Country {
    code: &'static str,
    weight: f64,
    /// Network distance from the origin, as a latency multiplier.
    distance: f64,
    utc_offset: f64,
}

macro_rules! countries {
    ($($code:literal $w:literal $d:literal $o:literal),* $(,)?) => {
        &[$(Country { code: $code, weight: $w, distance: $d, utc_offset: $o }),*]
    };
}

const COUNTRIES: &[Country] = countries![
    "US" 18.0 1.6 -5.0, "DE" 8.0 1.0 1.0, "GB" 7.0 1.1 0.0, "FR" 6.0 1.1 1.0, "IN" 6.0 2.6 5.5,
    "BR" 4.0 2.4 -3.0, "CA" 3.0 1.7 -5.0, "JP" 3.0 2.3 9.0, "AU" 2.5 2.8 10.0, "ES" 2.5 1.2 1.0,
    "IT" 2.5 1.2 1.0, "NL" 2.0 1.0 1.0, "PL" 2.0 1.1 1.0, "SE" 1.5 1.1 1.0, "MX" 2.0 2.0 -6.0,
    "ID" 2.0 2.7 7.0, "TR" 1.5 1.5 3.0, "KR" 1.2 2.3 9.0, "AR" 1.0 2.5 -3.0, "ZA" 1.0 2.4 2.0,
    "NG" 1.0 2.6 1.0, "EG" 0.8 1.8 2.0, "VN" 1.0 2.6 7.0, "PH" 1.0 2.7 8.0, "TH" 0.8 2.6 7.0,
    "CH" 1.0 1.0 1.0, "AT" 0.8 1.0 1.0, "BE" 0.8 1.0 1.0, "PT" 0.7 1.3 0.0, "IE" 0.6 1.1 0.0,
    "NO" 0.6 1.1 1.0, "DK" 0.6 1.0 1.0, "FI" 0.5 1.2 2.0, "CZ" 0.6 1.1 1.0, "RO" 0.6 1.3 2.0,
    "UA" 0.6 1.4 2.0, "CL" 0.5 2.5 -4.0, "CO" 0.6 2.2 -5.0, "SG" 0.8 2.2 8.0, "NZ" 0.4 3.0 12.0,
];

struct Platform {
    device: &'static str,
    weight: f64,
    user_agent: &'static str,
    screen: (u32, u32),
}

const PLATFORMS: &[Platform] = &[
    Platform {
        device: "desktop",
        weight: 22.0,
        screen: (1920, 1080),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    },
    Platform {
        device: "desktop",
        weight: 8.0,
        screen: (1920, 1080),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
    },
    Platform {
        device: "desktop",
        weight: 6.0,
        screen: (1920, 1080),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    },
    Platform {
        device: "desktop",
        weight: 8.0,
        screen: (1512, 982),
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    },
    Platform {
        device: "desktop",
        weight: 7.0,
        screen: (1512, 982),
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    },
    Platform {
        device: "desktop",
        weight: 2.0,
        screen: (2560, 1440),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    },
    Platform {
        device: "desktop",
        weight: 2.0,
        screen: (1920, 1080),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
    },
    Platform {
        device: "mobile",
        weight: 24.0,
        screen: (412, 915),
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    },
    Platform {
        device: "mobile",
        weight: 15.0,
        screen: (393, 852),
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    },
    Platform {
        device: "mobile",
        weight: 3.0,
        screen: (360, 800),
        user_agent: "Mozilla/5.0 (Linux; Android 13; SM-A135F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    },
    Platform {
        device: "tablet",
        weight: 2.5,
        screen: (820, 1180),
        user_agent: "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    },
    Platform {
        device: "tablet",
        weight: 1.5,
        screen: (800, 1280),
        user_agent: "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    },
];

const ORIGIN: &str = "https://shop.example.com";

const BLOG: &[&str] = &[
    "how-to-choose-running-shoes",
    "winter-collection-2026",
    "care-guide",
    "size-guide",
];

struct Session {
    /// Named as the browser agent names a session: its start, then random bits.
    id: String,
    /// When it started (ms since the epoch).
    start: i64,
    country: &'static Country,
    platform: &'static Platform,
    connection: (&'static str, &'static str),
    net: f64,
    dev: f64,
    device_memory: f64,
    user_id: Option<String>,
    release: &'static str,
}

/// A session id as the browser agent makes it: the start in ms as 11 hex characters, then
/// 40 random bits (`random`, 10 hex characters).
pub fn session_id(start: i64, random: &str) -> String {
    format!("{start:011x}{random}")
}

/// A view id as the browser agent makes it: the session's id, a dash, the view's start in ms
/// after the session's (`after`) in base 36, and 16 random bits (`random`, 4 hex characters).
pub fn view_id(session_id: &str, after: i64, random: &str) -> String {
    let mut rest = after.max(0) as u64;
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((rest % 36) as u32, 36).expect("below 36"));
        rest /= 36;
        if rest == 0 {
            break;
        }
    }
    let after: String = digits.iter().rev().collect();
    format!("{session_id}-{after}{random}")
}

/// Generates demo batches.
pub struct Generator {
    config: DemoConfig,
    project: ProjectId,
    rng: Rng,
    enricher: Enricher,
    views_made: usize,
}

impl Generator {
    /// A generator for one project.
    pub fn new(project: ProjectId, config: DemoConfig) -> Self {
        let rng = Rng::new(config.seed);
        Self {
            config,
            project,
            rng,
            enricher: Enricher::default(),
            views_made: 0,
        }
    }

    /// Page views generated so far.
    pub fn page_views(&self) -> usize {
        self.views_made
    }

    fn session(&mut self) -> Session {
        let r = &mut self.rng;
        let country =
            &COUNTRIES[r.weighted(&COUNTRIES.iter().map(|c| c.weight).collect::<Vec<_>>())];
        let platform =
            &PLATFORMS[r.weighted(&PLATFORMS.iter().map(|p| p.weight).collect::<Vec<_>>())];
        let desktop = platform.device == "desktop";
        let connection = if desktop {
            if r.chance(0.7) {
                ("wifi", "4g")
            } else {
                ("ethernet", "4g")
            }
        } else {
            // Slow networks are commoner far from the origin (a stand-in for emerging markets).
            let slow = 0.08 + 0.06 * (country.distance - 1.0);
            match r.weighted(&[0.45, 0.55 - slow, slow]) {
                0 => ("wifi", "4g"),
                1 => ("cellular", "4g"),
                _ => ("cellular", "3g"),
            }
        };
        let net = match connection {
            ("wifi", _) => 1.0,
            ("ethernet", _) => 0.9,
            (_, "4g") => 1.5,
            _ => 3.2,
        };
        let low_end = platform.user_agent.contains("SM-A135F") || (!desktop && r.chance(0.15));
        let dev = match platform.device {
            "desktop" => 1.0,
            "tablet" => 1.3,
            _ if low_end => 2.4,
            _ => 1.5,
        };
        let device_memory = if desktop {
            8.0
        } else if low_end {
            2.0
        } else {
            4.0
        };
        Session {
            // Named after its start once that is drawn (the same draw as before).
            id: r.hex(16),
            start: 0,
            country,
            platform,
            connection,
            net,
            dev,
            device_memory,
            user_id: if r.chance(0.3) {
                Some(format!("u{}", r.below(20_000)))
            } else {
                None
            },
            release: "",
        }
    }

    /// A start time in the period, more likely in the country's daytime.
    fn start_time(&mut self, country: &Country) -> i64 {
        let span = i64::from(self.config.days) * 86_400_000;
        loop {
            let t = self.config.end_ms - (self.rng.unit() * span as f64) as i64;
            let local_hour = ((t as f64 / 3_600_000.0) + country.utc_offset).rem_euclid(24.0);
            let weight = 0.25
                + 0.75 * (((local_hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5);
            if self.rng.unit() < weight {
                return t;
            }
        }
    }

    /// The next session's batches (one per page view), or `None` when done.
    pub fn next_session(&mut self) -> Option<Vec<IngestBatch>> {
        if self.views_made >= self.config.page_views {
            return None;
        }
        let mut s = self.session();
        let start = self.start_time(s.country);
        s.start = start;
        s.id = session_id(start, &s.id[..10]);
        let half = self.config.end_ms - i64::from(self.config.days) * 43_200_000;
        s.release = if start < half {
            "2026.11.3"
        } else {
            "2026.11.4"
        };
        let views = if self.config.lean {
            1
        } else {
            1 + (self.rng.unit().ln() / 0.7f64.ln()) as usize
        };
        let mut out = Vec::new();
        let mut t = start;
        let mut path = self.landing();
        let mut journey = Journey::default();
        for i in 0..views.min(12) {
            // Nothing in the future: a session that would run past the end stops there.
            if self.views_made >= self.config.page_views || t + 120_000 > self.config.end_ms {
                break;
            }
            self.views_made += 1;
            let soft = i > 0 && !self.config.lean && self.rng.chance(0.6);
            let (batch, dwell) = self.view(&s, t, &path, soft, &mut journey);
            out.push(batch);
            t += dwell;
            path = self.next_path(&path);
        }
        Some(out)
    }

    fn landing(&mut self) -> String {
        match self.rng.weighted(&[40.0, 20.0, 25.0, 15.0]) {
            0 => "/".into(),
            1 => "/products".into(),
            2 => format!("/blog/{}", BLOG[self.rng.below(BLOG.len())]),
            _ => format!("/products/{}", 100 + self.rng.below(400)),
        }
    }

    fn next_path(&mut self, from: &str) -> String {
        let r = &mut self.rng;
        if from == "/" || from.starts_with("/blog") {
            return if r.chance(0.7) {
                "/products".into()
            } else {
                format!("/blog/{}", BLOG[r.below(BLOG.len())])
            };
        }
        if from == "/products" {
            return format!("/products/{}", 100 + r.below(400));
        }
        if from.starts_with("/products/") {
            return match r.weighted(&[5.0, 3.0, 2.0]) {
                0 => format!("/products/{}", 100 + r.below(400)),
                1 => "/cart".into(),
                _ => "/products".into(),
            };
        }
        if from == "/cart" {
            return if r.chance(0.6) {
                "/checkout".into()
            } else {
                "/products".into()
            };
        }
        "/account".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_protocol::EventBody;

    #[test]
    fn conversion_falls_as_lcp_rises() {
        let mut g = Generator::new(
            1,
            DemoConfig {
                page_views: 60_000,
                days: 7,
                end_ms: 1_764_000_000_000,
                seed: 3,
                lean: false,
            },
        );
        // Per session: worst LCP and whether it checked out.
        let mut buckets = [(0u32, 0u32); 3];
        while let Some(batches) = g.next_session() {
            let mut worst = 0.0f64;
            let mut converted = false;
            for b in &batches {
                for e in &b.events {
                    match &e.body {
                        EventBody::Vital(v) if v.name == "LCP" => worst = worst.max(v.value),
                        EventBody::Custom(c) if c.name == "add_to_cart" || c.name == "checkout" => {
                            converted = true
                        }
                        _ => {}
                    }
                }
            }
            let i = if worst <= 2500.0 {
                0
            } else if worst <= 4000.0 {
                1
            } else {
                2
            };
            buckets[i].0 += 1;
            buckets[i].1 += u32::from(converted);
        }
        let rate = |(n, c): (u32, u32)| f64::from(c) / f64::from(n);
        let (good, ni, poor) = (rate(buckets[0]), rate(buckets[1]), rate(buckets[2]));
        assert!(
            good > ni && ni > poor,
            "conversion good {good:.3}, needs improvement {ni:.3}, poor {poor:.3}"
        );
    }

    /// FNV-1a, 64-bit: enough to notice any changed byte, and it needs no dependency.
    fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(hash, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// What of a batch the demo decides: its events and the context it sends, as enrichment
    /// keeps them. Not the whole batch, so that a new column in the model does not look like
    /// changed demo data.
    fn demo_part(b: &IngestBatch) -> Vec<u8> {
        let c = &b.common;
        let text = [
            &c.session_id,
            &c.view_id,
            &c.page_url,
            &c.referrer,
            &c.browser,
            &c.browser_version,
            &c.os,
            &c.os_version,
            &c.device_type,
            &c.country,
            &c.connection_type,
            &c.effective_type,
            &c.user_id,
            &c.release,
            &c.environment,
            &c.agent,
            &c.agent_version,
            &c.attributes,
        ];
        let sizes = [
            c.screen_width,
            c.screen_height,
            c.viewport_width,
            c.viewport_height,
        ];
        serde_json::to_vec(&(&b.events, text, sizes, c.device_memory)).expect("batch serializes")
    }

    /// A fixed small demo, as a digest of what it decided plus the generator's next draw: the
    /// first catches any change to the data, the second a change to how many numbers were
    /// drawn even where the data happens to agree.
    fn fingerprint(lean: bool) -> (String, usize, u64) {
        let mut g = Generator::new(
            7,
            DemoConfig {
                page_views: 400,
                days: 2,
                end_ms: 1_764_000_000_000,
                seed: 42,
                lean,
            },
        );
        let mut hash = 0xcbf2_9ce4_8422_2325;
        let mut batches = 0;
        while let Some(session) = g.next_session() {
            for b in &session {
                hash = fnv1a(hash, &demo_part(b));
                hash = fnv1a(hash, b"\n");
                batches += 1;
            }
        }
        (format!("{hash:016x}"), batches, g.rng.next_u64())
    }

    /// Guards refactors of the generator: the same seed must give byte-identical data, so the
    /// random numbers must be drawn in the same order with the same calls. A changed digest
    /// means the demo data changed (or how events serialize, or how enrichment maps the
    /// context the demo sends). If that was deliberate, say so in the commit and paste the
    /// values the failure prints here.
    #[test]
    fn demo_data_is_unchanged() {
        // (lean, digest, batches, the generator's next draw)
        let expected = [
            (true, "3513e2b5bee441af", 400, 9050697405711331099),
            (false, "b803db7aa5e1ed2b", 400, 13756381591271445028),
        ];
        let got = expected.map(|(lean, ..)| {
            let (digest, batches, next_draw) = fingerprint(lean);
            (lean, digest, batches, next_draw)
        });
        assert!(
            expected
                .iter()
                .zip(&got)
                .all(|(e, g)| (e.0, e.1, e.2, e.3) == (g.0, g.1.as_str(), g.2, g.3)),
            "the demo data changed; if deliberate, record these:\n{got:#?}"
        );
    }

    #[test]
    fn same_seed_same_data() {
        let config = DemoConfig {
            page_views: 200,
            days: 1,
            end_ms: 1_764_000_000_000,
            seed: 9,
            lean: false,
        };
        let (mut a, mut b) = (Generator::new(1, config.clone()), Generator::new(1, config));
        while let Some(x) = a.next_session() {
            assert_eq!(Some(x), b.next_session());
        }
    }
}
