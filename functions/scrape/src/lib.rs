//! The scrape component (pull mode). Spin's cron trigger calls `handle-cron-event` every
//! second with the second it fires for: the targets due then ([`flamelet::scrape::Job::is_due`])
//! are scraped. Other schedulers, and operators, call `POST /flamelet/scrape` (every target
//! now, or one job's with `?job=`), which answers the pass's report; `GET /targets` answers
//! every target's health. The pass itself is [`flamelet::scrape::pass::run`]; the requests go
//! out through [`outbound::Fetch`].

use flamelet::limits::TenantLimits;
use flamelet::scrape::pass::{self, ScrapeReport};
use flamelet::scrape::{Job, Jobs, Target};
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Scrapes the targets `due` selects.
fn scrape(due: &dyn Fn(&Job, &Target) -> bool) -> Result<ScrapeReport, flamelet::Error> {
    let jobs = Jobs::from_env(env)?;
    let limits = TenantLimits::from_config(env)?;
    Ok(pass::run(
        &HostStore,
        &jobs,
        &limits,
        due,
        &mut outbound::Fetch,
        &flamelet::time::now_nanos,
    ))
}

impl cron::Guest for Component {
    fn handle_cron_event(
        metadata: cron::fermyon::spin_cron::cron_types::Metadata,
    ) -> Result<(), cron::fermyon::spin_cron::cron_types::Error> {
        let second = metadata.timestamp;
        match scrape(&|job, target| job.is_due(target, second)) {
            Ok(report) => {
                for t in report.targets.iter().filter(|t| !t.last_error.is_empty()) {
                    eprintln!("scrape {} {}: {}", t.job, t.instance, t.last_error);
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
        flamelet_guest::serve("scrape", request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    let job = req
        .params
        .iter()
        .find(|(k, _)| k == "job")
        .map(|(_, v)| v.clone());
    let chosen = |j: &Job| job.as_deref().is_none_or(|name| name == j.name);
    if req.path.trim_end_matches('/') == "/targets" {
        if req.method != "GET" {
            return Response::method_not_allowed("GET");
        }
        let listed = Jobs::from_env(env)
            .map_err(flamelet::Error::from)
            .and_then(|jobs| Ok(pass::targets(&HostStore, &jobs)?));
        return respond(listed, |targets| {
            let targets: Vec<_> = targets
                .into_iter()
                .filter(|t| job.as_deref().is_none_or(|name| name == t.job))
                .collect();
            Response::json(&serde_json::json!({ "targets": targets }))
        });
    }
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    respond(scrape(&|j, _| chosen(j)), |report| Response::json(&report))
}

cron::export!(Component with_types_in cron);
wasip2::http::proxy::export!(Component with_types_in wasip2);
