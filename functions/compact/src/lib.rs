//! The compaction component. Spin's cron trigger calls `handle-cron-event`; other schedulers
//! and `flamelet compact` call `POST /flamelet/compact`, which answers the pass's report as
//! JSON. The pass itself is [`flamelet::compact::run`].

use flamelet::compact::{CompactionConfig, CompactionReport, run};
use flamelet_guest::{HostStore, Request, Response, respond};
use wasip2::exports::http::incoming_handler::Guest as HttpGuest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

mod cron {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "flamelet:host/compactor",
        with: {
            "flamelet:host/store@0.1.0": flamelet_guest::bindings::flamelet::host::store,
            "fermyon:spin-cron/cron-types@2.0.0": generate,
        },
    });
}

struct Component;

/// Runs one pass with the tunables of the environment the host gives the component; a bad
/// setting fails the pass with a message naming it.
fn pass() -> Result<CompactionReport, flamelet::Error> {
    let config = CompactionConfig::from_config(|name| std::env::var(name).ok())?;
    run(&HostStore, &flamelet::time::now_nanos, &config)
}

impl cron::Guest for Component {
    fn handle_cron_event(
        _metadata: cron::fermyon::spin_cron::cron_types::Metadata,
    ) -> Result<(), cron::fermyon::spin_cron::cron_types::Error> {
        match pass() {
            Ok(report) => {
                if !report.merged.is_empty() || !report.deleted.is_empty() {
                    eprintln!(
                        "compaction: {} merged, {} deleted, {} conflicts",
                        report.merged.len(),
                        report.deleted.len(),
                        report.conflicts.len()
                    );
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
        flamelet_guest::serve(request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    respond(pass(), |report| Response::json(&report))
}

cron::export!(Component with_types_in cron);
wasip2::http::proxy::export!(Component with_types_in wasip2);
