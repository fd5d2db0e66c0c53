//! Authentication (issue #19 §2) through `flamelet serve`: credentials made by
//! `flamelet credential`, loaded from the configuration file; the credential decides the
//! tenant, scopes what it may do, and a refused request costs no component instance.

use std::path::Path;
use std::process::Command;

use base64::Engine;

use crate::util::server::{BIN, encode};
use crate::util::{FlameletServer, T0, WORKED_EXAMPLE};

/// A credential made by `flamelet credential`: its configuration entry and its secret.
pub struct Credential {
    /// The YAML list entry for `auth: credentials:`.
    pub entry: String,
    /// `NAME.SECRET`.
    pub token: String,
    pub name: String,
    pub secret: String,
}

impl Credential {
    /// Runs `flamelet credential --name NAME [--tenant T] --scopes S`.
    pub fn new(name: &str, tenant: Option<&str>, scopes: &str) -> Credential {
        let mut cmd = Command::new(BIN);
        cmd.args(["credential", "--name", name, "--scopes", scopes]);
        if let Some(t) = tenant {
            cmd.args(["--tenant", t]);
        }
        let out = cmd.output().expect("running flamelet credential");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let token = stderr
            .lines()
            .find_map(|l| l.strip_prefix("bearer token: "))
            .expect("the token line")
            .to_string();
        let secret = token.split_once('.').expect("NAME.SECRET").1.to_string();
        Credential {
            entry: String::from_utf8(out.stdout).expect("YAML"),
            token,
            name: name.to_string(),
            secret,
        }
    }

    /// `Authorization: Bearer NAME.SECRET`.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `Authorization: Basic …` of the same credential.
    pub fn basic(&self) -> String {
        basic(&self.name, &self.secret)
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Writes a configuration file with these credentials.
pub fn config_file(dir: &Path, credentials: &[&Credential]) -> std::path::PathBuf {
    let mut yaml = String::from("auth:\n  credentials:\n");
    for c in credentials {
        for line in c.entry.lines() {
            yaml.push_str("    ");
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    let path = dir.join("flamelet.yaml");
    std::fs::write(&path, yaml).expect("writing the config");
    path
}

/// A server (cron off) whose configuration file holds `credentials`, on data in the returned
/// directory.
pub fn server_with(credentials: &[&Credential]) -> (tempfile::TempDir, FlameletServer) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = config_file(dir.path(), credentials);
    let server = FlameletServer::start_on(
        &dir.path().join("data"),
        &["--no-cron", "--config", &config.to_string_lossy()],
    );
    (dir, server)
}

/// An answer: status, `WWW-Authenticate`, body.
struct Answer {
    status: u16,
    challenge: Option<String>,
    body: String,
}

/// One request to `server` with `headers`.
fn call(
    server: &FlameletServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", server.base);
    let r = if method == "GET" {
        let mut r = agent.get(&url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.call()
    } else {
        let mut r = agent.post(&url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send(body)
    };
    let mut r = r.expect("an answer");
    Answer {
        status: r.status().as_u16(),
        challenge: r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or_default().to_string()),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn ingest_path(name: &str) -> String {
    format!("/ingest?name={}&from={T0}", encode(name))
}

fn render_path() -> String {
    format!(
        "/pyroscope/render?query={}&from={}&until={}",
        encode("app.alloc_objects{}"),
        T0 - 60,
        T0 + 60
    )
}

/// The total of `app.alloc_objects` as `authorization` sees it.
fn total(server: &FlameletServer, authorization: &str) -> u64 {
    let a = call(
        server,
        "GET",
        &render_path(),
        &[("Authorization", authorization)],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let json: serde_json::Value = serde_json::from_str(&a.body).expect("JSON");
    json["flamebearer"]["numTicks"].as_u64().expect("numTicks")
}

fn instances(server: &FlameletServer, metrics: &Credential) -> f64 {
    let a = call(
        server,
        "GET",
        "/metrics",
        &[("Authorization", &metrics.bearer())],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
        .lines()
        .find_map(|l| l.strip_prefix("flamelet_instantiate_seconds_count "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the instance count")
}

/// Headers, and the status and line they are refused with.
type Refusal<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

#[test]
fn credentials_decide_the_tenant_and_scopes_decide_what_they_may_do() {
    let agents = Credential::new("agents", Some("team-a"), "write");
    let grafana = Credential::new("grafana", Some("team-a"), "read");
    let team_b = Credential::new("team-b", Some("team-b"), "read,write");
    let prometheus = Credential::new("prometheus", None, "metrics");
    let (_dir, server) = server_with(&[&agents, &grafana, &team_b, &prometheus]);
    let name = "app.alloc_objects{}";

    // Open: readiness and the UI's page.
    assert_eq!(call(&server, "GET", "/ready", &[], b"").status, 200);
    assert_eq!(call(&server, "GET", "/", &[], b"").status, 200);

    // Refused before any instance: no credential, a wrong one, a read one writing, another
    // tenant named in the header.
    let before = instances(&server, &prometheus);
    let wrong = format!("Bearer agents.{}x", agents.secret);
    let refusals: [Refusal; 6] = [
        (
            &[],
            401,
            "authentication required: send `Authorization: Bearer NAME.SECRET` or HTTP basic credentials",
        ),
        (
            &[("Authorization", &wrong)],
            401,
            "invalid credentials for `agents`",
        ),
        (
            &[("Authorization", "Bearer no-dot")],
            401,
            "unreadable Authorization header: a bearer token is NAME.SECRET",
        ),
        (
            &[("Authorization", &basic("agents", "guess"))],
            401,
            "invalid credentials for `agents`",
        ),
        (
            &[("Authorization", &grafana.bearer())],
            403,
            "credential `grafana` may not write (its scopes: read)",
        ),
        (
            &[
                ("Authorization", &agents.bearer()),
                ("X-Scope-OrgID", "team-b"),
            ],
            403,
            "credential `agents` is for tenant `team-a`, not `team-b` (X-Scope-OrgID)",
        ),
    ];
    for _ in 0..5 {
        for (headers, status, line) in refusals {
            let a = call(
                &server,
                "POST",
                &ingest_path(name),
                headers,
                WORKED_EXAMPLE.as_bytes(),
            );
            assert_eq!((a.status, a.body.trim_end()), (status, line), "{headers:?}");
            if status == 401 {
                assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"flamelet\""));
            }
        }
    }
    assert_eq!(
        instances(&server, &prometheus),
        before,
        "30 refused requests instantiated nothing"
    );

    // The credential's tenant: bearer and basic, with or without the header naming it.
    for headers in [
        vec![("Authorization", agents.bearer())],
        vec![("Authorization", agents.basic())],
        vec![
            ("Authorization", agents.bearer()),
            ("X-Scope-OrgID", "team-a".to_string()),
        ],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = call(
            &server,
            "POST",
            &ingest_path(name),
            &headers,
            WORKED_EXAMPLE.as_bytes(),
        );
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let a = call(
        &server,
        "POST",
        &ingest_path(name),
        &[("Authorization", &team_b.bearer())],
        b"b;only 7\n",
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        total(&server, &grafana.bearer()),
        12,
        "team-a: three uploads of 4"
    );
    assert_eq!(
        total(&server, &team_b.basic()),
        7,
        "team-b sees only its own"
    );
    // A read credential asking for another tenant's data is refused, not answered.
    let a = call(
        &server,
        "GET",
        &render_path(),
        &[
            ("Authorization", &grafana.bearer()),
            ("X-Scope-OrgID", "team-b"),
        ],
        b"",
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(
        &server,
        "GET",
        &render_path(),
        &[("Authorization", &agents.bearer())],
        b"",
    );
    assert_eq!(a.status, 403, "a write credential cannot read: {}", a.body);

    // Connect clients get Connect's error.
    let a = call(
        &server,
        "POST",
        "/querier.v1.QuerierService/ProfileTypes",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(a.status, 401);
    let json: serde_json::Value = serde_json::from_str(&a.body).expect("Connect JSON");
    assert_eq!(json["code"], "unauthenticated", "{json}");
    let a = call(
        &server,
        "POST",
        "/querier.v1.QuerierService/ProfileTypes",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &grafana.bearer()),
        ],
        b"{}",
    );
    assert_eq!(a.status, 200, "{}", a.body);

    // Operator routes: /metrics and any tenant's /exported-metrics with the metrics
    // credential; a tenant's own /exported-metrics with its read credential.
    assert_eq!(call(&server, "GET", "/metrics", &[], b"").status, 401);
    assert_eq!(
        call(
            &server,
            "GET",
            "/metrics",
            &[("Authorization", &grafana.bearer())],
            b""
        )
        .status,
        403
    );
    for (credential, path, status) in [
        (&prometheus, "/exported-metrics?tenant=team-b", 200),
        (&grafana, "/exported-metrics", 200),
        (&agents, "/exported-metrics", 403),
        (&prometheus, "/flamelet/compact", 403),
    ] {
        let a = call(
            &server,
            "GET",
            path,
            &[("Authorization", &credential.bearer())],
            b"",
        );
        assert_eq!(a.status, status, "{} {path}: {}", credential.name, a.body);
    }
    // The storage census: a reader's own tenant, or every tenant with the metrics credential.
    let census = |credential: &Credential, org: Option<&str>| {
        let auth = credential.bearer();
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(org.map(|o| ("X-Scope-OrgID", o)));
        let a = call(&server, "GET", "/flamelet/status", &headers, b"");
        let tenants: Vec<String> = serde_json::from_str::<serde_json::Value>(&a.body)
            .ok()
            .and_then(|c| c["tenants"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t["tenant"].as_str().map(String::from))
            .collect();
        (a.status, tenants)
    };
    assert_eq!(census(&grafana, None), (200, vec!["team-a".to_string()]));
    assert_eq!(census(&grafana, Some("team-b")).0, 403);
    assert_eq!(census(&agents, None).0, 403);
    let (status, every) = census(&prometheus, None);
    assert_eq!(status, 200);
    assert!(
        every.len() > 1 && every.contains(&"team-a".to_string()),
        "{every:?}"
    );
    let metrics = call(
        &server,
        "GET",
        "/metrics",
        &[("Authorization", &prometheus.bearer())],
        b"",
    )
    .body;
    for line in [
        "flamelet_rejected_requests_total{component=\"ingest\",tenant=\"\",reason=\"unauthenticated\"} 20",
        "flamelet_rejected_requests_total{component=\"ingest\",tenant=\"team-a\",reason=\"forbidden\"} 5",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
