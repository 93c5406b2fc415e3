use std::collections::HashMap;
use std::sync::Mutex;
use vigil_protocol::Text;

/// What a user agent string says about the client. Its texts are inline up to 24 bytes,
/// as every browser name and version and OS here is: a cached answer is copied out for each
/// request without an allocation (five a request as `String`s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UaInfo {
    /// Browser name, e.g. `Chrome`.
    pub browser: Text,
    /// Browser major version, e.g. `131`.
    pub browser_version: Text,
    /// OS name, e.g. `Windows 10`, `Android`, `iOS`.
    pub os: Text,
    /// OS version.
    pub os_version: Text,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub device_type: Text,
}

/// Parses user agents with woothee, remembering recent answers: one site sees few distinct
/// user agents, and the cache turns the regex work into a hash lookup.
pub struct UserAgentParser {
    parser: woothee::parser::Parser,
    cache: Mutex<HashMap<String, UaInfo>>,
}

const CACHE_LIMIT: usize = 4096;
/// Longest user agent looked at. Real ones are under 400 bytes; anything past this is
/// ignored, so the cache (keyed by the string a client chose) holds at most
/// `CACHE_LIMIT × MAX_UA_BYTES` of keys.
pub const MAX_UA_BYTES: usize = 512;

impl Default for UserAgentParser {
    fn default() -> Self {
        Self {
            parser: woothee::parser::Parser::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl UserAgentParser {
    /// Parses one user agent string.
    pub fn parse(&self, ua: &str) -> UaInfo {
        let mut end = ua.len().min(MAX_UA_BYTES);
        while !ua.is_char_boundary(end) {
            end -= 1;
        }
        let ua = &ua[..end];
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(ua)
        {
            return hit.clone();
        }
        let info = self.parse_uncached(ua);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(ua.to_owned(), info.clone());
        info
    }

    fn parse_uncached(&self, ua: &str) -> UaInfo {
        let Some(r) = self.parser.parse(ua) else {
            return UaInfo {
                device_type: "other".into(),
                ..UaInfo::default()
            };
        };
        let known = |s: &str| -> Text {
            if s == "UNKNOWN" {
                Text::default()
            } else {
                s.into()
            }
        };
        let tablet = r.os == "iPad"
            || ua.contains("Tablet")
            || (r.os == "Android" && !ua.contains("Mobile"));
        let device_type = match r.category {
            "crawler" => "bot",
            _ if tablet => "tablet",
            "smartphone" | "mobilephone" => "mobile",
            "pc" => "desktop",
            _ => "other",
        };
        let os = match r.os {
            "iPhone" | "iPad" | "iPod" => "iOS".into(),
            other => known(other),
        };
        let major = r.version.split('.').next().unwrap_or_default();
        UaInfo {
            browser: known(r.name),
            browser_version: known(major),
            os,
            os_version: known(&r.os_version),
            device_type: device_type.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_bounded_whatever_the_client_sends() {
        let p = UserAgentParser::default();
        for i in 0..(CACHE_LIMIT + 10) {
            // 300 KB user agents, each distinct: only their first bytes are kept.
            let ua = format!("{i:08}é{}", "x".repeat(300 * 1024));
            p.parse(&ua);
        }
        let cache = p.cache.lock().unwrap();
        assert!(cache.len() <= CACHE_LIMIT);
        let key_bytes: usize = cache.keys().map(String::len).sum();
        assert!(key_bytes <= CACHE_LIMIT * MAX_UA_BYTES, "{key_bytes}");
        // A multi-byte character across the cut does not panic.
        drop(cache);
        p.parse(&"é".repeat(MAX_UA_BYTES));
    }

    #[test]
    fn common_user_agents() {
        let p = UserAgentParser::default();
        let chrome = p.parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36");
        assert_eq!(
            (
                chrome.browser.as_str(),
                chrome.browser_version.as_str(),
                chrome.device_type.as_str()
            ),
            ("Chrome", "131", "desktop")
        );
        assert_eq!(chrome.os, "Windows 10");
        let iphone = p.parse("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1");
        assert_eq!(
            (
                iphone.browser.as_str(),
                iphone.os.as_str(),
                iphone.device_type.as_str()
            ),
            ("Safari", "iOS", "mobile")
        );
        let ipad = p.parse("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1");
        assert_eq!(ipad.device_type, "tablet");
        let android_tab = p.parse("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(android_tab.device_type, "tablet");
        let bot =
            p.parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(bot.device_type, "bot");
        assert_eq!(p.parse("").device_type, "other");
    }
}
