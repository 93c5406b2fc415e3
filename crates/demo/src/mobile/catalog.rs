//! What the demo app, Vigil Shop, runs on and is made of: the two platforms, their devices
//! and OS versions, the app's releases, the carriers of each country, and the app's screens.

use crate::Rng;

/// The two apps, one per platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    Android,
    Ios,
}

impl Platform {
    /// `service.name`: the Android package or the iOS app.
    pub(super) fn app_name(self) -> &'static str {
        match self {
            Platform::Android => "com.vigil.shop",
            Platform::Ios => "VigilShop",
        }
    }

    /// The OpenTelemetry SDK and its version, as the OTLP mapping names them.
    pub(super) fn agent(self) -> (&'static str, &'static str) {
        match self {
            Platform::Android => ("opentelemetry-android", "0.11.0"),
            Platform::Ios => ("opentelemetry-swift", "1.15.0"),
        }
    }
}

/// A device model, as `device.model.name` and `device.manufacturer` report it.
pub(super) struct Model {
    pub platform: Platform,
    pub name: &'static str,
    pub manufacturer: &'static str,
    pub tablet: bool,
    /// Share of its platform's sessions.
    pub weight: f64,
    /// How much slower than a current flagship it starts the app and draws screens.
    pub slowness: f64,
    /// The OS major versions it runs, oldest and newest.
    pub os: (u32, u32),
}

impl Model {
    /// Budget phones: slower everywhere, and short of memory for large images.
    pub(super) fn low_end(&self) -> bool {
        self.slowness >= 1.6
    }
}

macro_rules! models {
    ($($p:ident $name:literal $maker:literal $tablet:literal $w:literal $slow:literal $lo:literal $hi:literal),* $(,)?) => {
        &[$(Model { platform: Platform::$p, name: $name, manufacturer: $maker, tablet: $tablet, weight: $w, slowness: $slow, os: ($lo, $hi) }),*]
    };
}

pub(super) const MODELS: &[Model] = models![
    Android "Galaxy A14" "Samsung" false 16.0 1.85 13 14,
    Android "Galaxy A13" "Samsung" false 8.0 1.95 12 14,
    Android "Redmi Note 12" "Xiaomi" false 14.0 1.7 12 14,
    Android "Galaxy S23" "Samsung" false 12.0 1.0 13 15,
    Android "Pixel 7" "Google" false 9.0 1.15 13 15,
    Android "Pixel 8" "Google" false 10.0 1.0 14 15,
    Ios "iPhone 12" "Apple" false 12.0 1.25 16 18,
    Ios "iPhone 13" "Apple" false 18.0 1.1 16 18,
    Ios "iPhone 14" "Apple" false 18.0 1.0 16 18,
    Ios "iPhone 15" "Apple" false 16.0 0.9 17 18,
    Ios "iPhone 15 Pro" "Apple" false 8.0 0.85 17 18,
    Ios "iPad (10th generation)" "Apple" true 5.0 1.1 16 18,
];

/// A device model of the platform, by its share.
pub(super) fn model(r: &mut Rng, platform: Platform) -> &'static Model {
    let models: Vec<&Model> = MODELS.iter().filter(|m| m.platform == platform).collect();
    let weights: Vec<f64> = models.iter().map(|m| m.weight).collect();
    models[r.weighted(&weights)]
}

/// An OS version the model runs, newer ones commoner: `os.name` and `os.version` as the
/// SDKs send them (Android its release number, iOS the full version), and the major.
pub(super) fn os_version(r: &mut Rng, m: &Model) -> (&'static str, &'static str, u32) {
    let versions: &[(u32, &str, f64)] = match m.platform {
        Platform::Android => &[
            (12, "12", 1.0),
            (13, "13", 2.0),
            (14, "14", 3.0),
            (15, "15", 2.0),
        ],
        Platform::Ios => &[(16, "16.7.10", 1.0), (17, "17.6.1", 2.5), (18, "18.2", 4.5)],
    };
    let runs: Vec<&(u32, &str, f64)> = versions
        .iter()
        .filter(|(major, ..)| (m.os.0..=m.os.1).contains(major))
        .collect();
    let (major, version, _) = runs[r.weighted(&runs.iter().map(|v| v.2).collect::<Vec<_>>())];
    let name = match m.platform {
        Platform::Android => "Android",
        Platform::Ios if m.tablet => "iPadOS",
        Platform::Ios => "iOS",
    };
    (name, version, *major)
}

/// A release of the app.
pub(super) struct Release {
    pub version: &'static str,
    pub android_build: &'static str,
    pub ios_build: &'static str,
    /// Cold starts against 3.4.0's: 3.5.0 initialises its new recommendations SDK on the
    /// main thread before the first frame; 3.5.1 moves it off.
    pub cold_start: f64,
}

pub(super) const RELEASES: [Release; 3] = [
    Release {
        version: "3.4.0",
        android_build: "30400",
        ios_build: "1042",
        cold_start: 1.0,
    },
    Release {
        version: "3.5.0",
        android_build: "30500",
        ios_build: "1057",
        cold_start: 1.45,
    },
    Release {
        version: "3.5.1",
        android_build: "30501",
        ios_build: "1061",
        cold_start: 0.97,
    },
];

/// The release a session runs, by where it falls in the period (0 first, 1 last): 3.4.0
/// alone for the first half; 3.5.0 ships at the half and most users update within a day or
/// so; 3.5.1, its fix, ships at three quarters. Some users never update quickly.
pub(super) fn release(r: &mut Rng, at: f64) -> usize {
    let updated = |since: f64, pace: f64| {
        if at < since {
            0.0
        } else {
            0.9 * (1.0 - (-(at - since) / pace).exp())
        }
    };
    let to_35 = updated(0.5, 0.07);
    let to_351 = updated(0.75, 0.05);
    let u = r.unit();
    if u >= to_35 {
        0
    } else if u < to_35 * to_351 / 0.9 {
        2
    } else {
        1
    }
}

/// The mobile operators of a country (`network.carrier.name`), biggest first.
pub(super) fn carriers(country: &str) -> &'static [&'static str] {
    match country {
        "US" => &["T-Mobile", "Verizon", "AT&T"],
        "DE" => &["Telekom", "Vodafone", "O2"],
        "GB" => &["EE", "Vodafone", "O2", "Three"],
        "FR" => &["Orange", "SFR", "Bouygues Telecom", "Free"],
        "IN" => &["Jio", "Airtel", "Vi"],
        "BR" => &["Vivo", "Claro", "TIM"],
        "CA" => &["Rogers", "Bell", "Telus"],
        "JP" => &["NTT Docomo", "au", "SoftBank"],
        "AU" => &["Telstra", "Optus", "Vodafone"],
        "ES" => &["Movistar", "Vodafone", "Orange"],
        "IT" => &["TIM", "Vodafone", "WindTre"],
        "NL" => &["KPN", "Vodafone", "Odido"],
        "PL" => &["Play", "Orange", "Plus"],
        "SE" => &["Telia", "Tele2", "Telenor"],
        "MX" => &["Telcel", "AT&T", "Movistar"],
        "ID" => &["Telkomsel", "Indosat", "XL"],
        "TR" => &["Turkcell", "Vodafone", "Türk Telekom"],
        "KR" => &["SK Telecom", "KT", "LG U+"],
        "AR" => &["Personal", "Claro", "Movistar"],
        "ZA" => &["Vodacom", "MTN", "Cell C"],
        "NG" => &["MTN", "Airtel", "Glo"],
        "EG" => &["Vodafone", "Orange", "Etisalat"],
        "VN" => &["Viettel", "Vinaphone", "MobiFone"],
        "PH" => &["Globe", "Smart"],
        "TH" => &["AIS", "True", "dtac"],
        "CH" => &["Swisscom", "Sunrise", "Salt"],
        "AT" => &["A1", "Magenta", "Drei"],
        "BE" => &["Proximus", "Orange", "Base"],
        "PT" => &["MEO", "Vodafone", "NOS"],
        "IE" => &["Vodafone", "Three", "Eir"],
        "NO" => &["Telenor", "Telia"],
        "DK" => &["TDC", "Telenor", "3"],
        "FI" => &["Elisa", "DNA", "Telia"],
        "CZ" => &["O2", "T-Mobile", "Vodafone"],
        "RO" => &["Orange", "Vodafone", "Digi"],
        "UA" => &["Kyivstar", "Vodafone", "lifecell"],
        "CL" => &["Entel", "Movistar", "WOM"],
        "CO" => &["Claro", "Movistar", "Tigo"],
        "SG" => &["Singtel", "StarHub", "M1"],
        "NZ" => &["One NZ", "Spark", "2degrees"],
        _ => &["Vodafone", "Orange"],
    }
}

/// The network a session is on: wifi, 5G, 4G or 3G.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Network {
    Wifi,
    Nr,
    Lte,
    Hspa,
}

impl Network {
    /// Wifi for half the sessions; slow radios commoner far from the origin (a stand-in
    /// for emerging markets) and 5G commoner near it.
    pub(super) fn draw(r: &mut Rng, distance: f64) -> Network {
        let slow = 0.04 + 0.04 * (distance - 1.0);
        let fast = if distance <= 1.3 { 0.2 } else { 0.1 };
        match r.weighted(&[0.5, fast, 0.5 - fast - slow, slow]) {
            0 => Network::Wifi,
            1 => Network::Nr,
            2 => Network::Lte,
            _ => Network::Hspa,
        }
    }

    /// `network.connection.type` as the mapping reads it, and the radio generation.
    pub(super) fn kind(self) -> (&'static str, Option<&'static str>) {
        match self {
            Network::Wifi => ("wifi", None),
            Network::Nr => ("cellular", Some("5g")),
            Network::Lte => ("cellular", Some("4g")),
            Network::Hspa => ("cellular", Some("3g")),
        }
    }

    /// `network.connection.subtype` as each platform names the radio.
    pub(super) fn subtype(self, platform: Platform) -> Option<&'static str> {
        match (self, platform) {
            (Network::Wifi, _) => None,
            (Network::Nr, _) => Some("NR"),
            (Network::Lte, _) => Some("LTE"),
            (Network::Hspa, Platform::Android) => Some("HSPAP"),
            (Network::Hspa, Platform::Ios) => Some("WCDMA"),
        }
    }

    /// Latency against wifi.
    pub(super) fn slowness(self) -> f64 {
        match self {
            Network::Wifi => 1.0,
            Network::Nr => 0.9,
            Network::Lte => 1.4,
            Network::Hspa => 3.0,
        }
    }
}

/// The app's screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Screen {
    Home,
    ProductList,
    ProductDetail,
    Search,
    Cart,
    Checkout,
    Settings,
}

impl Screen {
    /// The screen's name as each SDK reports it: the activity or fragment on Android, the
    /// view controller on iOS.
    pub(super) fn name(self, platform: Platform) -> &'static str {
        match platform {
            Platform::Android => match self {
                Screen::Home => "HomeActivity",
                Screen::ProductList => "ProductListFragment",
                Screen::ProductDetail => "ProductDetailFragment",
                Screen::Search => "SearchFragment",
                Screen::Cart => "CartFragment",
                Screen::Checkout => "CheckoutActivity",
                Screen::Settings => "SettingsActivity",
            },
            Platform::Ios => match self {
                Screen::Home => "HomeViewController",
                Screen::ProductList => "ProductListViewController",
                Screen::ProductDetail => "ProductDetailViewController",
                Screen::Search => "SearchViewController",
                Screen::Cart => "CartViewController",
                Screen::Checkout => "CheckoutViewController",
                Screen::Settings => "SettingsViewController",
            },
        }
    }

    /// Median time to draw on a current flagship, before its data arrives: Checkout sets up
    /// the payment sheet and is the slowest.
    pub(super) fn draw_ms(self) -> f64 {
        match self {
            Screen::Home => 320.0,
            Screen::ProductList => 280.0,
            Screen::ProductDetail => 260.0,
            Screen::Search => 200.0,
            Screen::Cart => 230.0,
            Screen::Checkout => 720.0,
            Screen::Settings => 140.0,
        }
    }

    /// Where the user goes next.
    pub(super) fn next(self, r: &mut Rng) -> Screen {
        use Screen::*;
        let (to, weights): (&[Screen], &[f64]) = match self {
            Home => (
                &[ProductList, Search, ProductDetail, Cart, Settings],
                &[45.0, 25.0, 15.0, 8.0, 7.0],
            ),
            ProductList => (
                &[ProductDetail, ProductList, Search, Home, Cart],
                &[60.0, 15.0, 10.0, 10.0, 5.0],
            ),
            ProductDetail => (
                &[ProductList, Cart, ProductDetail, Search, Home],
                &[30.0, 30.0, 20.0, 10.0, 10.0],
            ),
            Search => (
                &[ProductDetail, ProductList, Search, Home],
                &[55.0, 20.0, 15.0, 10.0],
            ),
            Cart => (&[Checkout, ProductList, Home], &[50.0, 30.0, 20.0]),
            Checkout => (&[Home, ProductList], &[70.0, 30.0]),
            Settings => (&[Home], &[1.0]),
        };
        to[r.weighted(weights)]
    }
}
