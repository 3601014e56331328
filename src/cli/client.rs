//! What the client commands (`token`, `load`, `snapshot create`) need to reach a server and sign
//! tokens it accepts: its URL and its JWT secret, found from the same flags and environment
//! variables `hotdeal serve` reads, so a shell that started the server can also drive it.
//!
//! A client never creates anything: without a configured secret it reads the one the server
//! generated in its data dir, and fails with the places it looked when there is none.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::http::auth::JwtKeys;

/// Where the server's JWT secret comes from.
#[derive(Debug, Clone, Default, Args)]
pub struct SecretArgs {
    /// The server's data dir: a server started without a JWT secret keeps the one it generated
    /// in DATA_DIR/jwt_secret.
    #[arg(long, env = "HOTDEAL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The server's JWT secret (what it was given as HOTDEAL_JWT_SECRET or --jwt-secret).
    #[arg(long, env = "HOTDEAL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// The secret a client signs with, and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Secret {
    pub value: String,
    /// `--jwt-secret / HOTDEAL_JWT_SECRET`, or the file it was read from.
    pub source: String,
}

impl Secret {
    /// The signing keys.
    pub fn keys(&self) -> JwtKeys {
        JwtKeys::new(&self.value)
    }
}

impl SecretArgs {
    /// The configured secret, else the one in the data dir; an error naming both places when
    /// neither has one. Reads only: no directory or file is created.
    pub fn load(&self) -> anyhow::Result<Secret> {
        if let Some(s) = self.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
            return Ok(Secret {
                value: s.to_string(),
                source: "--jwt-secret / HOTDEAL_JWT_SECRET".into(),
            });
        }
        let path = self.data_dir.join("jwt_secret");
        let shown = absolute(&path);
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => Ok(Secret {
                value: s.trim().to_string(),
                source: shown.display().to_string(),
            }),
            Ok(_) => anyhow::bail!("{} is empty: {HOW_TO_PASS_THE_SECRET}", shown.display()),
            Err(err) => anyhow::bail!(
                "no JWT secret to sign with: --jwt-secret / HOTDEAL_JWT_SECRET is not set and {} \
                 cannot be read ({err}). {HOW_TO_PASS_THE_SECRET}",
                shown.display()
            ),
        }
    }
}

/// The advice every secret error ends with.
pub const HOW_TO_PASS_THE_SECRET: &str = "Give the server's secret with --jwt-secret (or \
    HOTDEAL_JWT_SECRET) if it was started with one; otherwise point --data-dir (or \
    HOTDEAL_DATA_DIR) at the server's data dir, where it keeps the secret it generated \
    (jwt_secret).";

/// How a client reaches the server and signs its tokens.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// The server's base URL [default: http://HOTDEAL_HTTP_ADDR, else http://127.0.0.1:8080].
    #[arg(long)]
    pub url: Option<String>,

    /// The server's listen address (HOTDEAL_HTTP_ADDR), used when --url is not given.
    #[arg(long, env = "HOTDEAL_HTTP_ADDR", hide = true)]
    pub http_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub secret: SecretArgs,
}

impl ServerArgs {
    /// The base URL, without a trailing slash. A wildcard listen address (`0.0.0.0`) is reached
    /// on loopback.
    pub fn base_url(&self) -> String {
        let url = match (&self.url, self.http_addr) {
            (Some(url), _) => url.clone(),
            (None, Some(addr)) => {
                let ip = if addr.ip().is_unspecified() {
                    std::net::IpAddr::from([127, 0, 0, 1])
                } else {
                    addr.ip()
                };
                format!("http://{}", SocketAddr::new(ip, addr.port()))
            }
            (None, None) => "http://127.0.0.1:8080".to_string(),
        };
        url.trim_end_matches('/').to_string()
    }
}

/// The error for a server that refused our token: which secret signed it and how to pass the
/// right one. `None` when the failure is not a signature refusal.
pub fn signature_mismatch(
    err: &crate::client::Error,
    url: &str,
    secret: &Secret,
) -> Option<anyhow::Error> {
    let refused = err.status() == Some(401)
        && err
            .error_body()
            .is_some_and(|e| e.message.contains("signature"));
    refused.then(|| {
        anyhow::anyhow!(
            "the server at {url} refused the token: invalid token signature. It was signed with \
             the secret from {}, and the server uses another one. {HOW_TO_PASS_THE_SECRET}",
            secret.source
        )
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: Option<&str>, addr: Option<&str>) -> ServerArgs {
        ServerArgs {
            url: url.map(str::to_string),
            http_addr: addr.map(|a| a.parse().unwrap()),
            secret: SecretArgs::default(),
        }
    }

    #[test]
    fn the_url_comes_from_the_flag_then_the_listen_address_then_the_default() {
        assert_eq!(
            server(Some("http://h:1/"), Some("127.0.0.1:2")).base_url(),
            "http://h:1"
        );
        assert_eq!(
            server(None, Some("0.0.0.0:9000")).base_url(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            server(None, Some("10.1.2.3:80")).base_url(),
            "http://10.1.2.3:80"
        );
        assert_eq!(server(None, None).base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_missing_secret_names_where_it_looked_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nowhere");
        let args = SecretArgs {
            data_dir: data.clone(),
            jwt_secret: None,
        };
        let err = format!("{:#}", args.load().unwrap_err());
        assert!(err.contains("nowhere/jwt_secret"), "{err}");
        assert!(err.contains("--data-dir"), "{err}");
        assert!(!data.exists());

        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("jwt_secret"), "abc\n").unwrap();
        let s = args.load().unwrap();
        assert_eq!(s.value, "abc");
        assert!(s.source.ends_with("nowhere/jwt_secret"), "{}", s.source);
        let flag = SecretArgs {
            jwt_secret: Some("xyz".into()),
            ..args
        };
        assert_eq!(flag.load().unwrap().value, "xyz");
    }
}
