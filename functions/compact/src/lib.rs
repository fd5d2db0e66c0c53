//! The compaction component. Spin's cron trigger calls `handle-cron-event`: an event in a
//! minute's first second runs the whole pass, the other events only the open hours'
//! ([`flamelet::compact::Scope::of_scheduled`]). Other schedulers and `flamelet compact` call
//! `POST /flamelet/compact`, which runs the whole pass (`?scope=open-hours`: the open hours')
//! and answers its report as JSON. The pass itself is [`flamelet::compact::run_in`]; a whole
//! pass first expires the days past retention and after it, when `FLAMELET_REMOTE_WRITE_URL`
//! is set, sends the recording rules' due samples there ([`flamelet::metrics::remote_write`]).

use flamelet::compact::{CompactionConfig, CompactionReport, Scope, run_in};
use flamelet::metrics::counted_rules;
use flamelet::metrics::recording::service::RulesConfig;
use flamelet::metrics::remote_write::{DeliveryReport, RemoteWriteConfig, SendError, deliver_all};
use flamelet::retention::{Retention, RetentionReport, expire};
use flamelet::tenant::Tenant;
use flamelet_guest::{HostStore, Request, Response, outbound, respond};
use wasip2::exports::http::incoming_handler::Guest as HttpGuest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod cron {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "flamelet:host/scheduled",
        with: {
            "flamelet:host/store@0.1.0": flamelet_guest::bindings::flamelet::host::store,
            "fermyon:spin-cron/cron-types@2.0.0": generate,
        },
    });
}

struct Component;

/// What a pass did: retention, the compaction, and the remote-write when there is one.
#[derive(serde::Serialize)]
struct PassReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<RetentionReport>,
    #[serde(flatten)]
    compaction: CompactionReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_write: Option<DeliveryReport>,
}

/// Runs one pass over `scope` with the tunables of the environment the host gives the
/// component; a bad setting fails the pass with a message naming it.
fn pass(scope: Scope) -> Result<PassReport, flamelet::Error> {
    let env = |name: &str| std::env::var(name).ok();
    let config = CompactionConfig::from_config(env)?;
    let whole = scope == Scope::AllDays;
    // Expired days first, so that the pass does not merge what is about to go.
    let retention = Retention::from_config(env)?;
    let retention = if retention.is_off() || !whole {
        None
    } else {
        let store = HostStore::shared();
        let rules = |tenant: &Tenant| counted_rules(&store, tenant, env);
        let now = flamelet::time::now_nanos();
        Some(expire(&store, &retention, config.grace_nanos, now, &rules)?)
    };
    let compaction = run_in(&HostStore, &flamelet::time::now_nanos, &config, scope)?;
    let remote_write = match RemoteWriteConfig::from_env(env)?.filter(|_| whole) {
        Some(remote) => {
            let rules = RulesConfig::from_env(env)?;
            let mut send = |tenant: &Tenant, body: &[u8]| send(&remote.url, tenant, body);
            let now = flamelet::time::now_nanos();
            Some(deliver_all(
                &HostStore::shared(),
                &rules,
                &remote,
                now,
                &mut send,
            )?)
        }
        None => None,
    };
    Ok(PassReport {
        retention,
        compaction,
        remote_write,
    })
}

/// One remote-write request, tried three times (1 s, then 2 s apart) while the receiver is
/// unavailable.
fn send(url: &str, tenant: &Tenant, body: &[u8]) -> Result<(), SendError> {
    let headers = [
        ("x-scope-orgid", tenant.as_str()),
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
        ("x-prometheus-remote-write-version", "0.1.0"),
        ("user-agent", "flamelet"),
    ];
    let mut last = None;
    for attempt in 0..3u64 {
        if attempt > 0 {
            wasip2::clocks::monotonic_clock::subscribe_duration(attempt * 1_000_000_000).block();
        }
        let result = match outbound::post(url, &headers, body) {
            Ok(answer) => SendError::from_status(url, answer.status, &answer.reason),
            Err(reason) => Err(SendError::Unavailable {
                url: url.to_string(),
                reason,
            }),
        };
        match result {
            Err(e @ SendError::Unavailable { .. }) => last = Some(e),
            done => return done,
        }
    }
    Err(last.unwrap_or(SendError::Unavailable {
        url: url.to_string(),
        reason: "not sent".to_string(),
    }))
}

impl cron::Guest for Component {
    fn handle_cron_event(
        metadata: cron::fermyon::spin_cron::cron_types::Metadata,
    ) -> Result<(), cron::fermyon::spin_cron::cron_types::Error> {
        match pass(Scope::of_scheduled(metadata.timestamp)) {
            Ok(PassReport {
                retention,
                compaction: report,
                remote_write,
            }) => {
                if let Some(r) = retention.filter(|r| !r.days.is_empty()) {
                    eprintln!(
                        "retention: deleted {} ({} objects)",
                        r.days.join(", "),
                        r.objects
                    );
                }
                if !report.merged.is_empty() || !report.deleted.is_empty() {
                    eprintln!(
                        "compaction: {} merged, {} deleted, {} conflicts",
                        report.merged.len(),
                        report.deleted.len(),
                        report.conflicts.len()
                    );
                }
                for e in remote_write.iter().flat_map(|r| &r.errors) {
                    eprintln!("remote write: {e}");
                }
                Ok(())
            }
            Err(e) => Err(cron::fermyon::spin_cron::cron_types::Error::Other(
                e.to_string(),
            )),
        }
    }
}

impl HttpGuest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        flamelet_guest::serve("compact", request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    let scope = req
        .params
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str());
    let report = Scope::from_param(scope)
        .map_err(flamelet::Error::from)
        .and_then(pass);
    respond(report, |report| Response::json(&report))
}

cron::export!(Component with_types_in cron);
wasip2::http::proxy::export!(Component with_types_in wasip2);
