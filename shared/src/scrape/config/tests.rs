use super::*;

fn jobs(json: &str) -> Result<Jobs, ScrapeConfigError> {
    Jobs::from_env(|name| (name == SCRAPE_CONFIGS_ENV).then(|| json.to_string()))
}

#[test]
fn defaults_are_alloy_s_profiles_every_15_seconds() {
    let j = jobs(r#"[{"job_name":"shop","static_configs":[{"targets":["127.0.0.1:6060"],"labels":{"env":"prod"}}]}]"#)
        .unwrap();
    let job = &j.jobs[0];
    assert_eq!(
        (job.interval_secs, job.timeout_nanos),
        (15, 10 * NANOS_PER_SECOND)
    );
    assert_eq!(job.tenant.as_str(), "anonymous");
    let names: Vec<&str> = job.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["process_cpu", "memory", "goroutine", "mutex", "block"]
    );
    let target = &job.targets[0];
    assert_eq!(
        target.labels,
        [
            ("env", "prod"),
            ("instance", "127.0.0.1:6060"),
            ("job", "shop"),
            ("service_name", "shop"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    );
    // The CPU profile is a delta the target takes over the interval less a second.
    assert_eq!(
        job.url(target, &job.profiles[0]),
        "http://127.0.0.1:6060/debug/pprof/profile?seconds=14"
    );
    assert_eq!(job.deadline_nanos(&job.profiles[0]), 24 * NANOS_PER_SECOND);
    assert_eq!(
        job.url(target, &job.profiles[1]),
        "http://127.0.0.1:6060/debug/pprof/heap"
    );
    assert_eq!(job.deadline_nanos(&job.profiles[1]), 10 * NANOS_PER_SECOND);
    assert_eq!(j.destinations(), ["http://127.0.0.1:6060"]);
}

#[test]
fn profiles_can_be_turned_off_moved_and_added() {
    let j = jobs(
        r#"[{"job_name":"node","tenant":"team-a","scrape_interval":"5s","scrape_timeout":"2s","scheme":"https",
            "body_size_limit":"1MiB",
            "static_configs":[{"targets":["app:3000"],"labels":{"service_name":"checkout"}}],
            "profiling_config":{"path_prefix":"/app/","pprof_config":{
                "goroutine":{"enabled":false},"mutex":{"enabled":false},"block":{"enabled":false},
                "memory":{"path":"/debug/pprof/heap?gc=1"},
                "fgprof":{"enabled":true},
                "threads":{"path":"/debug/pprof/threadcreate","delta":false}}}}]"#,
    )
    .unwrap();
    let job = &j.jobs[0];
    let target = &job.targets[0];
    assert_eq!(job.tenant.as_str(), "team-a");
    assert_eq!(job.body_size_limit, 1 << 20);
    assert_eq!(
        target.labels["service_name"], "checkout",
        "a target's label wins"
    );
    let urls: Vec<String> = job.profiles.iter().map(|p| job.url(target, p)).collect();
    assert_eq!(
        urls,
        [
            "https://app:3000/app/debug/pprof/profile?seconds=4",
            "https://app:3000/app/debug/pprof/heap?gc=1",
            "https://app:3000/app/debug/fgprof?seconds=4",
            "https://app:3000/app/debug/pprof/threadcreate",
        ]
    );
    assert_eq!(job.profiles[3].name, "threads");
}

#[test]
fn each_target_is_due_once_per_interval() {
    let j = jobs(r#"[{"job_name":"a","scrape_interval":"7s","static_configs":[{"targets":["h:1","h:2","h:3"]}]}]"#)
        .unwrap();
    let job = &j.jobs[0];
    for target in &job.targets {
        let due: Vec<u64> = (1000..1021).filter(|ts| job.is_due(target, *ts)).collect();
        assert_eq!(due.len(), 3, "{due:?}");
        assert!(due.windows(2).all(|w| w[1] - w[0] == 7), "{due:?}");
    }
    assert_ne!(
        job.target_id(&job.targets[0]),
        job.target_id(&job.targets[1])
    );
}

#[test]
fn bad_settings_are_named() {
    for (json, expected) in [
        (r#"[{"job_name":""}]"#, "job_name `` is empty"),
        (
            r#"[{"job_name":"a","scrape_interval":"1.5s"}]"#,
            "job `a`: scrape_interval `1.5s` is not a duration",
        ),
        (
            r#"[{"job_name":"a","scrape_interval":"500ms"}]"#,
            "scrape_interval `500ms`",
        ),
        (
            r#"[{"job_name":"a","scrape_interval":"5s","scrape_timeout":"10s"}]"#,
            "scrape_timeout `10s` is longer than scrape_interval",
        ),
        (
            r#"[{"job_name":"a","scheme":"ftp"}]"#,
            "scheme `ftp` is not http or https",
        ),
        (
            r#"[{"job_name":"a","body_size_limit":"lots"}]"#,
            "body_size_limit `lots`",
        ),
        (
            r#"[{"job_name":"a","tenant":"../x"}]"#,
            "tenant `../x` is not a valid tenant ID",
        ),
        (
            r#"[{"job_name":"a","static_configs":[{"targets":["http://h:1"]}]}]"#,
            "targets `http://h:1` is not host:port",
        ),
        (
            r#"[{"job_name":"a","static_configs":[{"targets":["h:99999"]}]}]"#,
            "targets `h:99999`",
        ),
        (
            r#"[{"job_name":"a","static_configs":[{"targets":["h:1"],"labels":{"__name__":"x"}}]}]"#,
            "labels `__name__`",
        ),
        (
            r#"[{"job_name":"a","static_configs":[{"targets":["h:1"],"labels":{"a-b":"x"}}]}]"#,
            "labels `a-b`",
        ),
        (
            r#"[{"job_name":"a","profiling_config":{"pprof_config":{"mine":{}}}}]"#,
            "pprof_config `mine` is a custom profile without a path",
        ),
        (
            r#"[{"job_name":"a","profiling_config":{"pprof_config":{"memory":{"path":"heap"}}}}]"#,
            "path `heap` must start with /",
        ),
        (
            r#"[{"job_name":"a"},{"job_name":"a"}]"#,
            "job name `a` is used twice",
        ),
        (
            r#"[{"job_name":"a","interval":"5s"}]"#,
            "unknown field `interval`",
        ),
    ] {
        let e = jobs(json).unwrap_err().to_string();
        assert!(e.contains(expected), "{json}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    assert_eq!(jobs("").unwrap(), Jobs::default());
}
