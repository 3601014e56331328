//! Sending verification codes: SMTP (lettre) when `SMTP_URL` is set, otherwise the code is
//! written to the log so a local user can still sign up.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The subject of a verification email (the seed's text, then English).
pub const VERIFICATION_SUBJECT: &str = "핫딜 이커머스 서비스 인증번호 (hotdeal verification code)";

/// How long one SMTP exchange may take before the request answers 503.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How many recently sent codes a [`LogMailer`] remembers.
pub const LOG_MAILER_KEEP: usize = 256;

/// Sends verification codes to email addresses.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Send `code` to `email`.
    async fn send_verification_code(&self, email: &str, code: &str) -> anyhow::Result<()>;

    /// The last code sent to `email`, if this mailer keeps them (the log mailer does, for local
    /// use and tests; a real mailer keeps nothing).
    fn last_code(&self, _email: &str) -> Option<String> {
        None
    }
}

/// Writes each code to the log at INFO and keeps the last [`LOG_MAILER_KEEP`] in memory.
#[derive(Debug, Default)]
pub struct LogMailer {
    sent: Mutex<VecDeque<(String, String)>>,
}

impl LogMailer {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send_verification_code(&self, email: &str, code: &str) -> anyhow::Result<()> {
        tracing::info!("verification code for {email}: {code}");
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.len() >= LOG_MAILER_KEEP {
            sent.pop_front();
        }
        sent.push_back((email.to_ascii_lowercase(), code.to_string()));
        Ok(())
    }

    fn last_code(&self, email: &str) -> Option<String> {
        let email = email.to_ascii_lowercase();
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.iter()
            .rev()
            .find(|(e, _)| *e == email)
            .map(|(_, c)| c.clone())
    }
}

/// Sends codes by SMTP. The URL is lettre's: `smtps://user:pass@host[:port]` (TLS),
/// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain, local relays).
/// The sender is the URL's user name when it is an address, else `no-reply@<host>`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Build from an SMTP URL. Nothing is contacted until the first email.
    pub fn from_url(url: &str) -> anyhow::Result<SmtpMailer> {
        // Errors never echo the URL: it holds the password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("invalid SMTP_URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let parsed = reqwest::Url::parse(url).map_err(|_| anyhow::anyhow!("invalid SMTP_URL"))?;
        let user = percent_decode(parsed.username());
        let from = if user.contains('@') {
            user
        } else {
            format!("no-reply@{}", parsed.host_str().unwrap_or("localhost"))
        };
        let from: Mailbox = from
            .parse()
            .context("SMTP_URL: cannot derive a sender address")?;
        Ok(SmtpMailer { transport, from })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_verification_code(&self, email: &str, code: &str) -> anyhow::Result<()> {
        let to: Mailbox = email.parse().context("recipient address")?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(VERIFICATION_SUBJECT)
            .header(ContentType::TEXT_PLAIN)
            .body(code.to_string())
            .context("building the verification email")?;
        self.transport
            .send(message)
            .await
            // An SMTP failure is the mail relay being unavailable: an I/O error, so 503.
            .map_err(|e| std::io::Error::other(format!("sending the verification email: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn log_mailer_keeps_the_last_code_per_address() {
        let m = LogMailer::new();
        m.send_verification_code("A@x.io", "abc123").await.unwrap();
        m.send_verification_code("b@x.io", "zzz999").await.unwrap();
        m.send_verification_code("a@x.io", "def456").await.unwrap();
        assert_eq!(m.last_code("a@X.io").as_deref(), Some("def456"));
        assert_eq!(m.last_code("c@x.io"), None);
    }

    /// A minimal SMTP server on loopback that accepts one message and hands back its DATA.
    async fn smtp_sink() -> (u16, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
            let mut data = String::new();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250-sink\r\n250 AUTH PLAIN LOGIN\r\n",
                    "AUTH" => b"235 authenticated\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
            data
        });
        (port, task)
    }

    #[tokio::test]
    async fn smtp_mailer_sends_the_code() {
        let (port, sink) = smtp_sink().await;
        let m = SmtpMailer::from_url(&format!(
            "smtp://noreply%40shop.example:pw@127.0.0.1:{port}"
        ))
        .unwrap();
        m.send_verification_code("buyer@example.com", "Ab12Cd")
            .await
            .unwrap();
        let data = sink.await.unwrap();
        assert!(data.contains("Ab12Cd"), "{data}");
        assert!(data.contains("To: buyer@example.com"), "{data}");
        assert!(data.contains("From: noreply@shop.example"), "{data}");
    }

    #[tokio::test]
    async fn an_unreachable_relay_is_an_io_error() {
        let m = SmtpMailer::from_url("smtp://127.0.0.1:1").unwrap();
        let err = m
            .send_verification_code("buyer@example.com", "Ab12Cd")
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<std::io::Error>().is_some(), "{err:#}");
    }

    #[test]
    fn smtp_sender_comes_from_the_url() {
        let m = SmtpMailer::from_url("smtps://me%40mail.example:secret@smtp.example").unwrap();
        assert_eq!(m.from.email.to_string(), "me@mail.example");
        let m = SmtpMailer::from_url("smtp://relay.local:25").unwrap();
        assert_eq!(m.from.email.to_string(), "no-reply@relay.local");
        assert!(SmtpMailer::from_url("nonsense").is_err());
    }
}
