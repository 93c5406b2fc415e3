//! Email over SMTP (lettre): plain, STARTTLS or implicit TLS, with optional login. Set in
//! the server's configuration, never by project members, so no address policy applies.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::Deserialize;
use std::time::Duration;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// No TLS (a relay on the same host or network).
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS.
    pub security: SmtpSecurity,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The sender, `Vigil <alerts@example.com>`.
    pub from: String,
    /// The longest one send may take.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Checks what can be checked without connecting.
    pub fn check(&self) -> Result<(), String> {
        self.from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp_from {:?}: {e}", self.from))?;
        if self.host.is_empty() {
            return Err("smtp_host is empty".into());
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("smtp_username and smtp_password go together".into());
        }
        Ok(())
    }
}

/// Sends one plain-text email to `to`; the server's reply code, or a code (0: not worth
/// retrying) and why it failed.
pub fn send_email(
    smtp: &SmtpConfig,
    to: &[String],
    subject: &str,
    text: &str,
    id: i64,
) -> Result<u16, (Option<u16>, String)> {
    let permanent = |e: String| (Some(0), e);
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| permanent(format!("smtp_from: {e}")))?;
    let mut message = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .message_id(Some(format!(
            "<vigil-alert-{id}@{}>",
            smtp.from
                .rsplit('@')
                .next()
                .unwrap_or("vigil")
                .trim_end_matches('>')
        )));
    for address in to {
        let mailbox: Mailbox = address
            .parse()
            .map_err(|e| permanent(format!("{address:?}: {e}")))?;
        message = message.to(mailbox);
    }
    let message = message
        .body(text.to_owned())
        .map_err(|e| permanent(format!("building the message: {e}")))?;
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned()).map_err(|e| permanent(format!("TLS: {e}")))
    };
    let mut transport = SmtpTransport::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(smtp.timeout));
    transport = match smtp.security {
        SmtpSecurity::None => transport.tls(Tls::None),
        SmtpSecurity::Starttls => transport.tls(Tls::Required(tls(&smtp.host)?)),
        SmtpSecurity::Tls => transport.tls(Tls::Wrapper(tls(&smtp.host)?)),
    };
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = transport.build().send(&message).map_err(|e| {
        let code = e.status().map(u16::from);
        let permanent = e.is_permanent();
        (if permanent { Some(0) } else { code }, format!("SMTP: {e}"))
    })?;
    Ok(u16::from(response.code()))
}
