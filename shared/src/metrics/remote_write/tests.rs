use std::sync::Arc;

use prost::Message;

use super::*;
use crate::metrics::testing::ingest_folded;
use crate::storage::store::MemoryStore;
use crate::wire::proto::settings::v1 as pb;

const S: i64 = 1_000_000_000;
/// A minute boundary (seconds).
const BASE: i64 = 1_700_000_040;

fn config() -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: "http://127.0.0.1:9090/api/v1/write".into(),
        window: 60 * S,
        delay: 300 * S,
        tenant_label: None,
    }
}

#[test]
fn windows_are_due_once_closed_and_delayed_oldest_first() {
    let c = config();
    let now = (BASE + 300) * S + 5 * S;
    // No watermark yet: start at the last closed window's end, nothing due.
    assert_eq!(c.due(None, now), (BASE * S, vec![]));
    // Two windows closed since.
    let (start, due) = c.due(Some(BASE * S), now + 120 * S);
    assert_eq!(start, BASE * S);
    let ranges: Vec<(i64, i64)> = due.iter().map(|w| (w.from, w.until)).collect();
    assert_eq!(
        ranges,
        [
            (BASE * S, (BASE + 60) * S - 1),
            ((BASE + 60) * S, (BASE + 120) * S - 1)
        ]
    );
    // A long absence is caught up at most MAX_WINDOWS_PER_PASS at a time.
    let (_, due) = c.due(Some(BASE * S), now + 1000 * 60 * S);
    assert_eq!(due.len(), MAX_WINDOWS_PER_PASS);
    assert_eq!(
        RemoteWriteConfig::from_env(|n| (n == URL_ENV).then(|| "ftp://x".to_string()))
            .unwrap_err()
            .to_string(),
        "FLAMELET_REMOTE_WRITE_URL=`ftp://x` is not an http:// or https:// URL"
    );
    assert_eq!(RemoteWriteConfig::from_env(|_| None).unwrap(), None);
}

fn rule() -> RecordingRule {
    RecordingRule::new(pb::RecordingRuleStore {
        id: "cpu".into(),
        metric_name: "profiles_recorded_app_cpu".into(),
        matchers: vec![
            "{__profile_type__=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\", service_name=\"app\"}".into(),
        ],
        group_by: vec!["env".into()],
        external_labels: vec![crate::wire::proto::types::v1::LabelPair {
            name: "team".into(),
            value: "pay".into(),
        }],
        generation: 1,
        ..Default::default()
    })
    .unwrap()
}

/// One sent series: its labels, value and timestamp (ms).
type Sent = (Vec<(String, String)>, f64, i64);

/// A sent body back as its series.
fn decoded(body: &[u8]) -> Vec<Sent> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    prom::WriteRequest::decode(&raw[..])
        .unwrap()
        .timeseries
        .into_iter()
        .map(|t| {
            let labels = t.labels.into_iter().map(|l| (l.name, l.value)).collect();
            (labels, t.samples[0].value, t.samples[0].timestamp)
        })
        .collect()
}

#[test]
fn each_window_is_sent_once_and_a_failed_send_is_sent_again_the_same() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    let c = config();
    let rules = [rule()];
    let sent: std::cell::RefCell<Vec<Vec<u8>>> = Default::default();
    let mut ok = |_: &Tenant, body: &[u8]| -> Result<(), SendError> {
        sent.borrow_mut().push(body.to_vec());
        Ok(())
    };
    // The first pass with rules starts the watermark; nothing is due.
    let now = (BASE + 300) * S;
    let d = deliver(&store, &tenant, &rules, &c, now, &mut ok)
        .unwrap()
        .unwrap();
    assert_eq!((d.windows, d.until), (0, BASE * S));
    // 100 Hz folded samples: 12 in the first window, 3 + 4 in the second (two envs).
    ingest_folded(
        &store,
        &tenant,
        "app.cpu{env=prod}",
        BASE + 10,
        "main;a 12\n",
    );
    ingest_folded(
        &store,
        &tenant,
        "app.cpu{env=prod}",
        BASE + 70,
        "main;b 3\n",
    );
    ingest_folded(&store, &tenant, "app.cpu{env=dev}", BASE + 80, "main;b 4\n");
    ingest_folded(
        &store,
        &tenant,
        "other.cpu{env=prod}",
        BASE + 10,
        "main;x 100\n",
    );
    let later = now + 120 * S;
    let mut failing = |_: &Tenant, _: &[u8]| -> Result<(), SendError> {
        Err(SendError::Unavailable {
            url: c.url.clone(),
            reason: "connection refused".into(),
        })
    };
    let e = deliver(&store, &tenant, &rules, &c, later, &mut failing).unwrap_err();
    assert!(e.to_string().contains("connection refused"), "{e}");
    let d = deliver(&store, &tenant, &rules, &c, later, &mut ok)
        .unwrap()
        .unwrap();
    assert_eq!((d.windows, d.series, d.until), (2, 3, (BASE + 120) * S));
    let labels = |env: &str| {
        vec![
            (
                "__name__".to_string(),
                "profiles_recorded_app_cpu".to_string(),
            ),
            ("env".to_string(), env.to_string()),
            ("team".to_string(), "pay".to_string()),
        ]
    };
    let ms = |s: i64| s * 1000;
    let mut got = decoded(&sent.borrow()[0]);
    got.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    assert_eq!(
        got,
        [
            (labels("prod"), 120e6, ms(BASE + 60)),
            (labels("dev"), 40e6, ms(BASE + 120)),
            (labels("prod"), 30e6, ms(BASE + 120)),
        ]
    );
    // Sent: nothing more to send at the same time, the same later if nothing new came.
    let d = deliver(&store, &tenant, &rules, &c, later, &mut ok)
        .unwrap()
        .unwrap();
    assert_eq!(d.windows, 0);
    assert_eq!(sent.borrow().len(), 1);
    // Another compactor that still saw the old watermark sends exactly the same samples.
    let window = TimeRange {
        from: BASE * S,
        until: (BASE + 60) * S - 1,
    };
    let again = window_series(&store, &tenant, &rules, &window, None).unwrap();
    assert_eq!(
        decoded(&encode(again)),
        [(labels("prod"), 120e6, ms(BASE + 60))]
    );
    // With a tenant label, each series says whose it is.
    let labelled = window_series(&store, &tenant, &rules, &window, Some("team")).unwrap();
    let mut want = labels("prod");
    want[2].1 = "anonymous".to_string();
    assert_eq!(decoded(&encode(labelled)), [(want, 120e6, ms(BASE + 60))]);
}

#[test]
fn samples_the_receiver_refuses_are_passed_over() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    let c = config();
    let rules = [rule()];
    let now = (BASE + 300) * S;
    let mut never = |_: &Tenant, _: &[u8]| -> Result<(), SendError> { panic!("nothing to send") };
    deliver(&store, &tenant, &rules, &c, now, &mut never).unwrap();
    ingest_folded(
        &store,
        &tenant,
        "app.cpu{env=prod}",
        BASE + 10,
        "main;a 12\n",
    );
    let mut refusing = |_: &Tenant, _: &[u8]| -> Result<(), SendError> {
        Err(SendError::Refused {
            url: c.url.clone(),
            status: 400,
            reason: "out of bounds".into(),
        })
    };
    let d = deliver(&store, &tenant, &rules, &c, now + 60 * S, &mut refusing)
        .unwrap()
        .unwrap();
    assert_eq!(d.until, (BASE + 60) * S);
    assert!(
        d.refused
            .as_deref()
            .is_some_and(|r| r.contains("out of bounds")),
        "{d:?}"
    );
    // Answers: taken, to be sent again, refused.
    assert_eq!(SendError::from_status("u", 204, ""), Ok(()));
    assert!(matches!(
        SendError::from_status("u", 503, "busy"),
        Err(SendError::Unavailable { .. })
    ));
    assert!(matches!(
        SendError::from_status("u", 429, ""),
        Err(SendError::Unavailable { .. })
    ));
    assert!(matches!(
        SendError::from_status("u", 400, "too old"),
        Err(SendError::Refused { status: 400, .. })
    ));
    // No rules: nothing at all, not even a watermark.
    let other = Tenant::from_header(Some("team-b")).unwrap();
    assert_eq!(
        deliver(&store, &other, &[], &c, now, &mut never).unwrap(),
        None
    );
}
