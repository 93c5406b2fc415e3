use std::net::IpAddr;
use std::path::Path;
use vigil_protocol::Text;

/// Where an IP address is, as far as the configured databases know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code, empty when unknown.
    pub country: Text,
    /// Region (state, province), with a city database.
    pub region: Text,
    /// City, with a city database.
    pub city: Text,
}

/// A database that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open geo database {path}: {source}")]
pub struct GeoError {
    path: String,
    source: maxminddb::MaxMindDbError,
}

/// IP → location lookups against ip-location-db mmdb files (DB-IP lite, CC BY 4.0): a
/// country database, and optionally a city database that wins where it knows the address.
#[derive(Default)]
pub struct GeoDb {
    country: Option<maxminddb::Reader<Vec<u8>>>,
    city: Option<maxminddb::Reader<Vec<u8>>>,
}

#[derive(serde::Deserialize)]
struct Record<'a> {
    country_code: Option<&'a str>,
    state1: Option<&'a str>,
    city: Option<&'a str>,
}

impl GeoDb {
    /// Opens the databases that are given; with none, every lookup answers unknown.
    pub fn open(country: Option<&Path>, city: Option<&Path>) -> Result<Self, GeoError> {
        let open = |p: &Path| {
            maxminddb::Reader::open_readfile(p).map_err(|source| GeoError {
                path: p.display().to_string(),
                source,
            })
        };
        Ok(Self {
            country: country.map(open).transpose()?,
            city: city.map(open).transpose()?,
        })
    }

    /// Whether a country database is loaded.
    pub fn has_country(&self) -> bool {
        self.country.is_some() || self.city.is_some()
    }

    /// Looks one address up. Private, loopback and unknown addresses give an empty location.
    pub fn locate(&self, ip: IpAddr) -> Location {
        for reader in [&self.city, &self.country].into_iter().flatten() {
            let found = reader
                .lookup(ip)
                .ok()
                .and_then(|r| r.decode::<Record>().ok().flatten());
            if let Some(rec) = found
                && let Some(cc) = rec.country_code
            {
                return Location {
                    country: cc.into(),
                    region: rec.state1.unwrap_or_default().into(),
                    city: rec.city.unwrap_or_default().into(),
                };
            }
        }
        Location::default()
    }
}
