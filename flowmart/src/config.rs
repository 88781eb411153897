//! The pipeline file: one typed configuration for `flowmart run`, layered
//! file < environment < flags (`CONTRACT.md` §6), every unknown key refused (all of them named at
//! once, not just the first), every default written next to its field. `flowmart/flowmart.toml`
//! is the annotated example. The binary owns these settings; each part it wires takes its own
//! section (the runtime's `[runtime]` is [`RuntimeConfig`] itself).
//!
//! Every problem is named at once, as `flowmart validate` shows them: unknown keys, values of the
//! wrong type (each is set aside, its default taken, and the rest read on), and the rules on
//! values, each once.
//!
//! One file per section under `config/`, each with its settings and its rules (`problems`);
//! `load.rs` layers the sources and names where each problem came from.

mod api;
mod cluster;
mod kafka;
mod load;
mod postgres;
mod retention;
mod secret_files;
mod topics;
mod webhooks;

use std::path::Path;

use flowmart_api::OutboundTls;
use flowmart_runtime::RuntimeConfig;
use serde::{Deserialize, Serialize};

pub use api::ApiSettings;
pub use cluster::{ClusterSettings, Peer};
pub use kafka::{KafkaSettings, SaslMechanism, SecurityProtocol};
pub use load::{ConfigProblem, load};
pub use postgres::PostgresSettings;
pub use retention::RetentionSettings;
pub(crate) use secret_files::read as read_secret_file;
pub use topics::TopicSettings;
pub use webhooks::WebhookSettings;

/// Everything `flowmart run` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Where records come from.
    pub kafka: KafkaSettings,
    /// The topic names.
    #[serde(default)]
    pub topics: TopicSettings,
    /// Timely workers and flow control.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// State retention.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// The query API.
    #[serde(default)]
    pub api: ApiSettings,
    /// Where results are stored.
    #[serde(default)]
    pub postgres: PostgresSettings,
    /// The timely cluster this process is part of.
    #[serde(default)]
    pub cluster: ClusterSettings,
    /// How webhook deliveries reach tenants' receivers.
    #[serde(default)]
    pub webhooks: WebhookSettings,
}

impl PipelineConfig {
    /// The runtime's configuration: `[runtime]`, with what the other sections say of it.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            cluster: self.cluster.runtime(self.postgres.database_url.is_some()),
            retention: self.retention.operators(),
            topics: self.topics.inputs(),
            ..self.runtime.clone()
        }
    }
}

impl PipelineConfig {
    /// Checks what types cannot: every rule on values, as (setting, problem).
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = self.kafka.problems();
        problems.extend(self.postgres.problems());
        problems.extend(self.cluster.problems());
        problems.extend(self.webhooks.problems());
        problems.extend(self.api.problems());
        problems.extend(self.retention.problems());
        problems.extend(self.topics.problems());
        let runtime = &self.runtime;
        let rules = [
            ((1..=1024).contains(&runtime.workers), "runtime.workers", "must be from 1 to 1024"),
            (runtime.poll_batch > 0, "runtime.poll_batch", "must be at least 1"),
            (runtime.idle_tick_ms > 0, "runtime.idle_tick_ms", "must be at least 1"),
            ((0..=19).contains(&runtime.nice), "runtime.nice", "must be between 0 and 19"),
            (runtime.stall_after_ms >= 1000, "runtime.stall_after_ms", "must be at least 1000"),
        ];
        problems.extend(broken(rules));
        problems
    }
}

/// What is wrong with the CA file `path` set as `key`, if anything.
fn ca_file_problem(key: &str, path: Option<&Path>) -> Option<(String, String)> {
    match path.map(|path| OutboundTls::new(Some(path))) {
        Some(Err(problem)) => Some((key.to_string(), problem.to_string())),
        _ => None,
    }
}

/// The rules of `rules` — (holds, setting, problem) — that do not hold, as (setting, problem).
fn broken<'a>(rules: impl IntoIterator<Item = (bool, &'a str, &'a str)>) -> Vec<(String, String)> {
    rules
        .into_iter()
        .filter(|(holds, _, _)| !holds)
        .map(|(_, key, problem)| (key.to_string(), problem.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flowmart_kafka::{OnOffsetOutOfRange, StartFrom};
    use flowmart_schemas::Retention;
    use ipnet::IpNet;

    use super::retention::DAY_MS;
    use super::*;

    /// A pipeline file in the temp dir, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("flowmart-config-{}-{next}.toml", std::process::id()));
        std::fs::File::create(&path).and_then(|mut file| file.write_all(text.as_bytes())).unwrap();
        TempFile(path)
    }

    const MINIMAL: &str = "[kafka]\nbrokers = \"kafka:9092\"\nschema_registry_url = \"http://registry:8081\"\n";

    #[test]
    fn the_example_pipeline_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("flowmart.toml");
        let config = load(Some(&example), &[]).expect("flowmart/flowmart.toml is valid");
        assert_eq!(config.topics, TopicSettings::default());
    }

    #[test]
    fn a_minimal_file_takes_every_default() {
        let minimal = file(MINIMAL);
        let config = load(Some(&minimal.0), &[]).unwrap();
        assert_eq!(config.kafka.group_id, "flowmart");
        assert_eq!(config.kafka.start, StartFrom::Earliest);
        assert_eq!(config.kafka.on_offset_out_of_range, OnOffsetOutOfRange::Earliest);
        assert_eq!(config.api.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.retention.operators(), Retention::default());
    }

    #[test]
    fn flags_win_over_the_file() {
        let minimal = file(MINIMAL);
        let flags = [("kafka.brokers", "other:9092".to_string()), ("kafka.start", "2026-01-05T00:00:00Z".to_string())];
        let config = load(Some(&minimal.0), &flags).unwrap();
        assert_eq!(config.kafka.brokers, "other:9092");
        assert_eq!(config.kafka.start, StartFrom::Timestamp(1_767_571_200_000));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named_with_their_file() {
        let bad = file(&format!("{MINIMAL}colour = \"blue\"\n[runtime]\nworkerz = 2\n[topics]\ninventry = \"x\"\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert_eq!(problems.len(), 3, "every unknown key at once: {problems:?}");
        for key in ["kafka.colour", "runtime.workerz", "topics.inventry"] {
            let problem = problems
                .iter()
                .find(|problem| problem.to_string().contains(key))
                .unwrap_or_else(|| panic!("{key}: {problems:?}"));
            assert!(problem.setting.contains(&bad.0.display().to_string()), "{problem}");
        }

        let bad = file(
            "[kafka]\nbrokers = \"\"\nschema_registry_url = \"registry:8081\"\n[runtime]\nworkers = 0\nnice = 20\n[topics]\ndlq = \"has space\"\n",
        );
        let problems =
            load(Some(&bad.0), &[]).unwrap_err().into_iter().map(|problem| problem.to_string()).collect::<Vec<_>>();
        assert_eq!(problems.len(), 5, "{problems:?}");
        for key in ["kafka.brokers", "kafka.schema_registry_url", "runtime.workers", "runtime.nice", "topics.dlq"] {
            assert!(problems.iter().any(|problem| problem.contains(key)), "{key} in {problems:?}");
        }

        let bad = file("[kafka]\nbrokers = \"k:9092\"\nschema_registry_url = \"http://r\"\nstart = \"yesterday\"\n");
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert!(
            problems[0].to_string().contains("kafka.start") && problems[0].to_string().contains("RFC 3339"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn an_out_of_range_offset_policy_is_read_and_a_bad_one_or_a_competing_auto_offset_reset_is_named() {
        let failing = file(&format!("{MINIMAL}on_offset_out_of_range = \"fail\"\n"));
        assert_eq!(load(Some(&failing.0), &[]).unwrap().kafka.on_offset_out_of_range, OnOffsetOutOfRange::Fail);

        let bad = file(&format!("{MINIMAL}on_offset_out_of_range = \"latest\"\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        let problem = problems[0].to_string();
        assert!(problem.contains("kafka.on_offset_out_of_range"), "{problem}");
        assert!(problem.contains("earliest") && problem.contains("fail"), "names what it may be: {problem}");

        let competing = file(&format!("{MINIMAL}[kafka.consumer]\n\"auto.offset.reset\" = \"latest\"\n"));
        let problems = load(Some(&competing.0), &[]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let problem = problems[0].to_string();
        assert!(problem.contains("auto.offset.reset") && problem.contains("on_offset_out_of_range"), "{problem}");
    }

    #[test]
    fn a_retention_too_long_for_milliseconds_is_a_problem_not_an_overflow() {
        let long = file(&format!(
            "{MINIMAL}[retention]\nevent_id_days = 213503982334602\norder_days = 36501\nresolved_alert_days = 213503982335\nhistory_days = 36501\n"
        ));
        let problems = load(Some(&long.0), &[]).unwrap_err();
        for key in [
            "retention.event_id_days",
            "retention.order_days",
            "retention.resolved_alert_days",
            "retention.history_days",
        ] {
            assert!(problems.iter().any(|problem| problem.setting.ends_with(key)), "{key} in {problems:?}");
        }
        let longest = file(&format!("{MINIMAL}[retention]\nevent_id_days = 36500\nhistory_days = 36500\n"));
        let retention = load(Some(&longest.0), &[]).unwrap().retention.operators();
        assert_eq!((retention.event_ids_ms, retention.history_ms), (Some(36_500 * DAY_MS), Some(36_500 * DAY_MS)));
        let forever = load(Some(&file(MINIMAL).0), &[]).unwrap().retention.operators();
        assert_eq!(forever.history_ms, None, "lineage is kept forever by default");
    }

    #[test]
    fn a_bad_flag_is_named_as_the_flag() {
        let minimal = file(MINIMAL);
        let problems = load(Some(&minimal.0), &[("runtime.workers", "many".to_string())]).unwrap_err();
        assert!(problems[0].to_string().starts_with("--workers: "), "{}", problems[0]);
        let config = load(Some(&minimal.0), &[("runtime.workers", "3".to_string())]).unwrap();
        assert_eq!(config.runtime.workers, 3);
    }

    #[test]
    fn a_cluster_is_read_from_flags_and_the_peers_file_and_every_mistake_is_named() {
        let minimal = file(MINIMAL);
        let peers =
            file("# the cluster\n127.0.0.1:2101 http://127.0.0.1:8080\n\n127.0.0.1:2102 http://127.0.0.1:8081/\n");
        let flags = |processes: &str, index: &str, peers: &std::path::Path| {
            vec![
                ("cluster.processes", processes.to_string()),
                ("cluster.process_index", index.to_string()),
                ("cluster.peers", peers.display().to_string()),
            ]
        };
        let config = load(Some(&minimal.0), &flags("2", "1", &peers.0)).unwrap();
        let runtime = config.runtime().cluster.expect("a cluster");
        assert_eq!(
            (runtime.process, runtime.addresses.as_slice()),
            (1, &["127.0.0.1:2101".to_string(), "127.0.0.1:2102".into()][..])
        );
        assert_eq!(config.cluster.peers().unwrap()[1].api, "http://127.0.0.1:8081");
        assert!(load(Some(&minimal.0), &[]).unwrap().runtime().cluster.is_none(), "alone by default");

        let problems = |flags: Vec<(&'static str, String)>| {
            load(Some(&minimal.0), &flags)
                .unwrap_err()
                .into_iter()
                .map(|problem| problem.to_string())
                .collect::<Vec<_>>()
        };
        let wrong = problems(flags("3", "1", &peers.0));
        assert!(
            wrong.iter().any(|problem| problem.contains("cluster.peers") && problem.contains("names 2 processes")),
            "{wrong:?}"
        );
        let wrong = problems(flags("2", "2", &peers.0));
        assert!(wrong.iter().any(|problem| problem.contains("cluster.process_index")), "{wrong:?}");
        let malformed = file("127.0.0.1 http://127.0.0.1:8080\n127.0.0.1:2102 http://127.0.0.1:8081\n");
        let wrong = problems(flags("2", "0", &malformed.0));
        assert!(wrong.iter().any(|problem| problem.contains("line 1")), "{wrong:?}");
        // Found by fuzzing: the comment leaves `http://`, which used to pass as the URL `http:`.
        let no_host = file("127.0.0.1:2101 http://#127.0.0.1:8080\n127.0.0.1:2102 https:///\n");
        let wrong = problems(flags("2", "0", &no_host.0));
        assert!(wrong.iter().any(|problem| problem.contains("line 1")), "{wrong:?}");
        let wrong = problems(vec![("cluster.processes", "2".to_string())]);
        assert!(
            wrong.iter().any(|problem| problem.contains("cluster.peers") && problem.contains("required")),
            "{wrong:?}"
        );
    }

    #[test]
    fn the_webhook_allow_list_is_read_and_a_bad_network_or_ca_file_is_named() {
        let allowed = file(&format!("{MINIMAL}[webhooks]\nallowed_networks = [\"10.20.0.0/16\", \"fd00::/8\"]\n"));
        let config = load(Some(&allowed.0), &[]).unwrap();
        let networks: Vec<IpNet> = vec!["10.20.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert_eq!(config.webhooks.allowed_networks, networks);
        // As the environment gives it (FLOWMART__WEBHOOKS__ALLOWED_NETWORKS='["127.0.0.0/8"]').
        let minimal = file(MINIMAL);
        let from_env = load(Some(&minimal.0), &[("webhooks.allowed_networks", r#"["127.0.0.0/8"]"#.to_string())]);
        assert_eq!(from_env.unwrap().webhooks.allowed_networks, vec!["127.0.0.0/8".parse::<IpNet>().unwrap()]);

        let bad = file(&format!("{MINIMAL}[webhooks]\nallowed_networks = [\"10.20.0.0/33\"]\n"));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        assert!(problems[0].to_string().contains("webhooks.allowed_networks"), "{}", problems[0]);

        let missing = file(&format!(
            "{MINIMAL}[webhooks]\nca_file = \"/no/such/ca.pem\"\n[cluster]\nca_file = \"/no/such/peers-ca.pem\"\n"
        ));
        let problems =
            load(Some(&missing.0), &[]).unwrap_err().into_iter().map(|problem| problem.to_string()).collect::<Vec<_>>();
        for (key, path) in [("webhooks.ca_file", "/no/such/ca.pem"), ("cluster.ca_file", "/no/such/peers-ca.pem")] {
            assert!(
                problems.iter().any(|problem| problem.contains(key) && problem.contains(path)),
                "{key}: {problems:?}"
            );
        }
    }

    #[test]
    fn no_kafka_settings_at_all_name_what_is_needed() {
        let empty = file("");
        let problems = load(Some(&empty.0), &[]).unwrap_err();
        assert!(problems[0].setting.contains("kafka.brokers (FLOWMART_BROKERS, --brokers)"), "{}", problems[0]);
    }

    #[test]
    fn a_missing_file_is_named() {
        let problems = load(Some(Path::new("/no/such/flowmart.toml")), &[]).unwrap_err();
        assert_eq!(problems[0].to_string(), "/no/such/flowmart.toml: no such file");
    }
    #[test]
    fn every_problem_is_named_at_once_unknown_keys_bad_types_bad_addresses_and_broken_rules() {
        let bad = file(&format!(
            "{MINIMAL}colour = \"blue\"\nstart = \"yesterday\"\n[runtime]\nworkers = \"many\"\nnice = 20\n[api]\nlisten = \"nowhere\"\n"
        ));
        let problems = load(Some(&bad.0), &[]).unwrap_err();
        let lines = problems.iter().map(ToString::to_string).collect::<Vec<_>>();
        for (key, says) in [
            ("kafka.colour", "unknown key"),
            ("kafka.start", "RFC 3339"),
            ("runtime.workers", "many"),
            ("runtime.nice", "between 0 and 19"),
            ("api.listen", "socket address"),
        ] {
            let named = lines.iter().filter(|line| line.contains(key)).collect::<Vec<_>>();
            assert_eq!(named.len(), 1, "{key} named once: {lines:#?}");
            assert!(named[0].contains(says) && named[0].contains(&bad.0.display().to_string()), "{}", named[0]);
        }
        assert_eq!(lines.len(), 5, "{lines:#?}");
    }

    #[test]
    fn kafka_security_settings_become_properties_of_every_client_and_secrets_come_from_files() {
        let ca = file("-----BEGIN CERTIFICATE-----\n");
        let password = file("from-a-file\n");
        let text = format!(
            "{MINIMAL}security_protocol = \"SASL_SSL\"\nssl_ca_file = {:?}\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
             sasl_username = \"flowmart\"\nsasl_password_file = {:?}\n\
             [kafka.properties]\nssl_endpoint_identification_algorithm = \"none\"\n\
             [kafka.producer]\n\"compression.type\" = \"zstd\"\n\"linger.ms\" = 20\n",
            ca.0.display().to_string(),
            password.0.display().to_string()
        );
        let secured = file(&text);
        let config = load(Some(&secured.0), &[]).unwrap();
        let producer = config.kafka.client_properties(&config.kafka.producer);
        for (property, value) in [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.0.to_str().unwrap()),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "flowmart"),
            ("sasl.password", "from-a-file"),
            ("ssl.endpoint.identification.algorithm", "none"),
            ("compression.type", "zstd"),
            ("linger.ms", "20"),
        ] {
            assert_eq!(producer.get(property).map(String::as_str), Some(value), "{property}");
        }
        let consumer = config.kafka.client_properties(&config.kafka.consumer);
        assert_eq!(consumer.get("sasl.password").map(String::as_str), Some("from-a-file"));
        assert!(!consumer.contains_key("compression.type"), "producer properties stay the producer's");
    }

    #[test]
    fn kafka_security_mistakes_are_each_named() {
        let both = file("x\n");
        let text = format!(
            "{MINIMAL}sasl_username = \"flowmart\"\nsasl_password = \"p\"\nsasl_password_file = {:?}\n\
             ssl_ca_file = \"/no/such/ca.pem\"\nschema_registry_ca_file = \"/no/such/registry-ca.pem\"\n\
             [kafka.properties]\n\"sasl.username\" = \"twice\"\n\"no.such.property\" = \"1\"\n\
             [kafka.consumer]\n\"fetch.min.bytes\" = \"lots\"\n",
            both.0.display().to_string()
        );
        let bad = file(&text);
        let lines = load(Some(&bad.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        for (key, says) in [
            ("kafka.sasl_password_file", "both set"),
            ("kafka.sasl_username", "needs kafka.security_protocol SASL_SSL or SASL_PLAINTEXT"),
            ("kafka.ssl_ca_file", "/no/such/ca.pem"),
            ("kafka.ssl_ca_file", "needs kafka.security_protocol SSL or SASL_SSL"),
            ("kafka.schema_registry_ca_file", "https://"),
            ("kafka.schema_registry_ca_file", "/no/such/registry-ca.pem"),
            ("kafka.properties.\"sasl.username\"", "is set by kafka.sasl_username"),
            ("kafka.properties.\"no.such.property\"", "No such configuration property"),
            ("kafka.consumer.\"fetch.min.bytes\"", "fetch.min.bytes"),
        ] {
            assert!(lines.iter().any(|line| line.contains(key) && line.contains(says)), "{key}: {says} in {lines:#?}");
        }

        let sasl = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\n"));
        let lines = load(Some(&sasl.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert!(
            lines.iter().any(|line| line.contains("kafka.sasl_mechanism") && line.contains("required")),
            "{lines:?}"
        );
        let scram = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-256\"\n"));
        let lines = load(Some(&scram.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        for key in ["kafka.sasl_username", "kafka.sasl_password"] {
            assert!(lines.iter().any(|line| line.contains(key) && line.contains("required")), "{key} in {lines:?}");
        }
        let gssapi = file(&format!("{MINIMAL}security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"GSSAPI\"\n"));
        let problems = load(Some(&gssapi.0), &[]).unwrap_err();
        assert!(problems[0].to_string().contains("kafka.sasl_mechanism"), "{}", problems[0]);
    }

    /// Runs the test `name` again in a process of its own without `DATABASE_URL` (which the test
    /// command sets for the database tests, and which a setting in a file would meet); true in
    /// that process, where the test's body runs.
    fn without_database_url(name: &str) -> bool {
        const INNER: &str = "FLOWMART_CONFIG_TEST_WITHOUT_DATABASE_URL";
        if std::env::var_os(INNER).is_some() {
            return true;
        }
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &format!("config::tests::{name}"), "--test-threads", "1"])
            .env_remove("DATABASE_URL")
            .env(INNER, "1")
            .status()
            .unwrap();
        assert!(status.success(), "{name} failed in a process without DATABASE_URL");
        false
    }

    #[test]
    fn postgres_tls_parameters_are_checked_and_the_url_may_come_from_a_file() {
        if !without_database_url("postgres_tls_parameters_are_checked_and_the_url_may_come_from_a_file") {
            return;
        }
        let url = file("postgres://flowmart:secret@db:5432/flowmart?sslmode=verify-full\n");
        let from_file = file(&format!("{MINIMAL}[postgres]\ndatabase_url_file = {:?}\n", url.0.display().to_string()));
        let config = load(Some(&from_file.0), &[]).unwrap();
        assert_eq!(
            config.postgres.database_url.as_deref(),
            Some("postgres://flowmart:secret@db:5432/flowmart?sslmode=verify-full")
        );

        let bad = file(&format!(
            "{MINIMAL}[postgres]\ndatabase_url = \"postgres://db/flowmart?sslmode=verify-everything&sslrootcert=/no/such/root.crt\"\n"
        ));
        let lines = load(Some(&bad.0), &[]).unwrap_err().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("postgres.database_url") && lines[0].contains("verify-full"), "{}", lines[0]);
        assert!(lines[1].contains("sslrootcert") && lines[1].contains("/no/such/root.crt"), "{}", lines[1]);
    }
}
