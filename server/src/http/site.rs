//! Which sites may talk to the server, checked before anything else runs:
//!
//! - **Host** (DNS rebinding): a request must name the server as it listens — a loopback
//!   name or address, the `--addr` address (any IP address when listening on all of them),
//!   or the `--public-url` host. Anything else is 421.
//! - **Origin** (cross-site request forgery): a request that may change state (any method
//!   but GET, HEAD and OPTIONS) from a browser page of another origin is 403, whatever its
//!   content type and credentials; so is any request from another origin to a route that
//!   is not open to other origins, and any load of an API route by another site's page
//!   (`Sec-Fetch-Site`), which API answers also forbid (`Cross-Origin-Resource-Policy`).
//! - **CORS**: the tile, Deep Zoom and IIIF read routes are open to every origin (GET and
//!   HEAD, no credentials); origins given with `--cors-origin` may use every route.
//! - **Headers every answer carries**: `X-Content-Type-Options`, `X-Frame-Options`, a
//!   `Content-Security-Policy` that allows only the server's own scripts, and a
//!   `Referrer-Policy` that keeps slide ids out of other sites' logs.

use super::AppError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The viewer's policy: its own scripts and styles (styles may be set inline by
/// OpenSeadragon), images from itself and from `data:`/`blob:` URLs, no framing, no
/// plugins, forms and fetches to itself only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
     connect-src 'self' data: blob:; worker-src 'self' blob:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What a tile client on another origin may read in a CORS answer.
const EXPOSED_TO_TILE_CLIENTS: &str = "ETag, Content-Length";

/// What a trusted origin (`--cors-origin`) may read.
const EXPOSED_TO_TRUSTED: &str =
    "ETag, Location, Content-Length, Content-Disposition, X-Tessera-Lod, X-Tessera-Count";

/// How the server is reached, from `tessera serve`'s `--addr`, `--public-url` and
/// `--cors-origin`.
#[derive(Debug, Clone, Default)]
pub struct SiteRules {
    /// The address the server listens on (`None`: unknown, loopback names only).
    listen: Option<SocketAddr>,
    /// `scheme://authority` and path of `--public-url`.
    public: Option<PublicUrl>,
    /// Origins (`scheme://host[:port]`, lowercase) trusted with every route.
    trusted: Vec<String>,
}

/// The base URL clients reach the server at.
#[derive(Debug, Clone)]
struct PublicUrl {
    origin: String,
    host: String,
    /// Without a trailing `/` (empty at the root).
    path: String,
}

impl SiteRules {
    /// Rules for a server listening on `listen`; `public_url` is an absolute
    /// `http(s)://host[:port][/path]`, each of `cors_origins` an origin
    /// `http(s)://host[:port]`. The error names the flag and the value.
    pub fn new(
        listen: SocketAddr,
        public_url: Option<&str>,
        cors_origins: &[String],
    ) -> Result<Self, String> {
        let public = public_url
            .map(|u| {
                parse_base(u).ok_or_else(|| {
                    format!(
                        "--public-url {u:?} is not an absolute http:// or https:// URL \
                         (such as https://tessera.example.org or http://10.0.0.5:8080/slides)"
                    )
                })
            })
            .transpose()?;
        let trusted = cors_origins
            .iter()
            .map(|o| {
                normal_origin(o).ok_or_else(|| {
                    format!(
                        "--cors-origin {o:?} is not an origin (scheme://host[:port], such as \
                         https://viewer.example.org)"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            listen: Some(listen),
            public,
            trusted,
        })
    }

    /// The URL clients should use for `path` (which starts with `/`): under
    /// `--public-url` when set, else at the host the request named (already checked).
    #[must_use]
    pub fn url_for(&self, request_headers: &HeaderMap, path: &str) -> String {
        if let Some(p) = &self.public {
            return format!("{}{}{path}", p.origin, p.path);
        }
        let host = request_headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| self.host_allowed(h))
            .map_or_else(
                || {
                    self.listen
                        .map_or_else(|| "localhost".to_string(), |a| a.to_string())
                },
                str::to_string,
            );
        format!("http://{host}{path}")
    }

    /// Whether the server answers to this `Host` value (`name[:port]`).
    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback()
                || self
                    .listen
                    .is_some_and(|l| l.ip() == ip || l.ip().is_unspecified());
        }
        self.public.as_ref().is_some_and(|p| p.host == name)
    }

    /// Whether `origin` is the server itself, as reached through `host`.
    fn own_origin(&self, origin: &str, host: Option<&str>) -> bool {
        if self.public.as_ref().is_some_and(|p| p.origin == origin) {
            return true;
        }
        let Some(host) = host else { return false };
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host.to_ascii_lowercase())
    }

    fn trusted(&self, origin: &str) -> bool {
        self.trusted.iter().any(|t| t == origin)
    }
}

/// A route that every origin may read: tiles, Deep Zoom and IIIF.
fn open_to_every_origin(path: &str) -> bool {
    path.starts_with("/dzi/")
        || path.starts_with("/iiif/")
        || (path.starts_with("/slides/") && path.contains("/tiles/"))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The host name of a `Host` value, lowercase, without port or trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host.as_str(), |(name, _)| name)
            .trim_start_matches('[')
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host.as_str(),
        }
    };
    name.trim_end_matches('.').to_string()
}

/// `scheme://authority` of an origin, lowercase, without a default port; `None` for
/// what is not an http(s) origin.
fn normal_origin(origin: &str) -> Option<String> {
    let uri: Uri = origin.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if !matches!(scheme.as_str(), "http" | "https")
        || !uri.path().trim_start_matches('/').is_empty()
        || uri.query().is_some()
        || authority.as_str().contains('@')
    {
        return None;
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn parse_base(url: &str) -> Option<PublicUrl> {
    let uri: Uri = url.trim().parse().ok()?;
    let (scheme, authority) = (uri.scheme_str()?, uri.authority()?);
    let origin = normal_origin(&format!("{scheme}://{authority}"))?;
    if uri.query().is_some() {
        return None;
    }
    Some(PublicUrl {
        origin,
        host: host_name(authority.host()),
        path: uri.path().trim_end_matches('/').to_string(),
    })
}

fn refuse(status: StatusCode, message: String) -> Response {
    AppError::new(status, message).into_response()
}

/// Where a request says it was sent from (its `Origin` header).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    /// No Origin: not a browser's cross-origin request (curl, scripts, navigations).
    Nowhere,
    /// A page of this server.
    Own,
    /// An origin listed with `--cors-origin`.
    Trusted(String),
    /// Any other origin, or one that is none (`null`).
    Foreign(String),
}

impl Sent {
    fn of(rules: &SiteRules, headers: &HeaderMap, host: Option<&str>) -> Self {
        let Some(value) = headers.get(header::ORIGIN) else {
            return Self::Nowhere;
        };
        match value.to_str().ok().and_then(normal_origin) {
            Some(o) if rules.own_origin(&o, host) => Self::Own,
            Some(o) if rules.trusted(&o) => Self::Trusted(o),
            Some(o) => Self::Foreign(o),
            None => Self::Foreign("null".into()),
        }
    }
}

/// The Host and Origin checks, CORS and the common headers (see the module's doc).
pub(super) async fn guard(
    State(rules): State<Arc<SiteRules>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        });
    if let Some(h) = &host
        && !rules.host_allowed(h)
    {
        return with_common_headers(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name; it answers to loopback names, \
             the address it listens on and its public URL (tessera serve --public-url)"
                .into(),
        ));
    }
    let open = open_to_every_origin(request.uri().path());
    let from = Sent::of(&rules, request.headers(), host.as_deref());
    let method = request.method().clone();
    if method == Method::OPTIONS && from != Sent::Nowhere {
        return with_common_headers(preflight(request.headers(), open, &from));
    }
    let cross_site_fetch = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site" || v.as_bytes() == b"same-site");
    let navigation = request
        .headers()
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes() == b"navigate");
    let api = request.uri().path().starts_with("/api/");
    match &from {
        Sent::Foreign(foreign) if changes_state(&method) || !open => {
            return with_common_headers(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from pages of {foreign:?} are refused here: that origin is \
                     neither this server nor trusted (tessera serve --cors-origin)"
                ),
            ));
        }
        // A browser always sends Origin with such a request; one without is not ours.
        // Nor is an image or script another site's page loads from the API (it sends no
        // Origin either, but it would carry a same-site session cookie).
        Sent::Nowhere if cross_site_fetch && (changes_state(&method) || (api && !navigation)) => {
            return with_common_headers(refuse(
                StatusCode::FORBIDDEN,
                "a request from another site's page is refused here".into(),
            ));
        }
        _ => {}
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if api {
        // What the API answers is for this server's pages (and trusted origins' CORS).
        h.insert(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        );
    }
    if let Sent::Trusted(o) = &from {
        if let Ok(v) = HeaderValue::from_str(o) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_TO_TRUSTED),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    } else if open && !changes_state(&method) {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_TO_TILE_CLIENTS),
        );
    }
    with_common_headers(response)
}

/// The answer to a CORS preflight: open routes allow GET and HEAD from anywhere, trusted
/// origins every method; anything else is refused.
fn preflight(headers: &HeaderMap, open: bool, from: &Sent) -> Response {
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("GET");
    let read = matches!(asked, "GET" | "HEAD");
    let trusted = match from {
        Sent::Trusted(o) => HeaderValue::from_str(o).ok(),
        _ => None,
    };
    if trusted.is_none() && !(open && read) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this route is not open to other origins (tessera serve --cors-origin)".into(),
        );
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    let methods = if trusted.is_some() {
        "GET, HEAD, POST, PUT, DELETE"
    } else {
        "GET, HEAD"
    };
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        trusted.unwrap_or_else(|| HeaderValue::from_static("*")),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    // Bearer tokens are no ambient credential: a page may send one it was given.
    if let Some(v) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn with_common_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(listen: &str, public: Option<&str>, cors: &[&str]) -> SiteRules {
        let cors: Vec<String> = cors.iter().map(|s| (*s).to_string()).collect();
        SiteRules::new(listen.parse().expect("addr"), public, &cors).expect("rules")
    }

    #[test]
    fn hosts_are_loopback_names_the_listening_address_or_the_public_url() {
        let r = rules(
            "127.0.0.1:8080",
            Some("https://Tessera.Example.org/base/"),
            &[],
        );
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "app.localhost:1",
            "127.0.0.2",
            "tessera.example.org",
            "tessera.example.org.:443",
        ] {
            assert!(r.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.5:8080",
            "localhost.evil.com",
            "",
        ] {
            assert!(!r.host_allowed(bad), "{bad}");
        }
        let any = rules("0.0.0.0:8080", None, &[]);
        assert!(any.host_allowed("10.0.0.5:8080"));
        assert!(!any.host_allowed("rebind.evil.example:8080"));
        let one = rules("10.0.0.5:8080", None, &[]);
        assert!(one.host_allowed("10.0.0.5:8080") && !one.host_allowed("10.0.0.6:8080"));
    }

    #[test]
    fn origins_are_normalised_and_checked_against_host_public_url_and_list() {
        assert_eq!(
            normal_origin("HTTPS://Viewer.Example:443").as_deref(),
            Some("https://viewer.example")
        );
        assert_eq!(
            normal_origin("http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        for bad in ["null", "file://", "http://a/b", "ftp://x", "http://u@h"] {
            assert_eq!(normal_origin(bad), None, "{bad}");
        }
        let r = rules(
            "127.0.0.1:8080",
            Some("https://t.example/x"),
            &["https://lab.example"],
        );
        assert!(r.own_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(!r.own_origin("http://127.0.0.1:9000", Some("127.0.0.1:8080")));
        assert!(!r.own_origin("http://localhost:8080", Some("127.0.0.1:8080")));
        assert!(r.own_origin("https://t.example", None));
        assert!(r.trusted("https://lab.example") && !r.trusted("https://evil.example"));
    }

    #[test]
    fn urls_use_the_public_base_or_the_checked_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("evil.example"));
        let r = rules("127.0.0.1:8080", None, &[]);
        assert_eq!(
            r.url_for(&headers, "/iiif/3/s"),
            "http://127.0.0.1:8080/iiif/3/s"
        );
        headers.insert(header::HOST, HeaderValue::from_static("localhost:8080"));
        assert_eq!(
            r.url_for(&headers, "/iiif/3/s"),
            "http://localhost:8080/iiif/3/s"
        );
        let p = rules("127.0.0.1:8080", Some("https://t.example/slides/"), &[]);
        assert_eq!(
            p.url_for(&headers, "/iiif/3/s"),
            "https://t.example/slides/iiif/3/s"
        );
        assert!(SiteRules::new("127.0.0.1:1".parse().expect("a"), Some("t.example"), &[]).is_err());
        assert!(
            SiteRules::new("127.0.0.1:1".parse().expect("a"), None, &["*".to_string()]).is_err()
        );
    }
}
