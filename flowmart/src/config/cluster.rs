//! `[cluster]`: this process's place in a multi-process timely cluster, and its peers file.

use std::path::PathBuf;

use flowmart_runtime::ClusterConfig;
use serde::{Deserialize, Serialize};

use super::{broken, ca_file_problem};

/// `[cluster]`: run as one of several processes forming one timely cluster (README "Scale out").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    /// Processes in the cluster (`FLOWMART_PROCESSES`, `--processes`). Default 1: this process
    /// alone.
    pub processes: usize,
    /// This process's index, from 0 (`FLOWMART_PROCESS_INDEX`, `--process-index`). Default 0.
    /// Process 0 writes the results (Postgres, alert and dead-letter topics).
    pub process_index: usize,
    /// The peers file (`FLOWMART_PEERS`, `--peers`), required with more than one process: line
    /// `i` is process `i`'s timely address and API URL, e.g. `10.0.0.7:2101 http://10.0.0.7:8080`;
    /// blank lines and `#` comments are skipped. Every process gets the same file.
    pub peers: Option<PathBuf>,
    /// A PEM file of CA certificates trusted besides the system's for `https://` API URLs in the
    /// peers file. Default none.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings { processes: 1, process_index: 0, peers: None, ca_file: None }
    }
}

/// One process of a cluster, as the peers file gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Where its timely workers listen (`host:port`).
    pub timely: String,
    /// Where its API answers (`http://host:port`).
    pub api: String,
}

impl ClusterSettings {
    /// Every process of the cluster, in order (one, unnamed, when this process runs alone).
    pub fn peers(&self) -> Result<Vec<Peer>, String> {
        let Some(path) = &self.peers else {
            return if self.processes > 1 {
                Err("is required when cluster.processes is more than 1".into())
            } else {
                Ok(Vec::new())
            };
        };
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let mut peers = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields = line.split_whitespace().collect::<Vec<_>>();
            // An API URL needs a host after its scheme (`http://#…` is `http://` and a comment).
            let has_host = |api: &str| {
                let rest = api.strip_prefix("http://").or_else(|| api.strip_prefix("https://"));
                rest.is_some_and(|rest| !rest.trim_end_matches('/').is_empty())
            };
            let well_formed = matches!(fields.as_slice(), [timely, api]
                if timely.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
                    && has_host(api));
            if !well_formed {
                return Err(format!(
                    "{} line {}: expected `<host:port> <http://api-host:port>`, got {line:?}",
                    path.display(),
                    number + 1
                ));
            }
            peers.push(Peer { timely: fields[0].to_string(), api: fields[1].trim_end_matches('/').to_string() });
        }
        if peers.len() != self.processes {
            return Err(format!(
                "{} names {} processes, cluster.processes is {}",
                path.display(),
                peers.len(),
                self.processes
            ));
        }
        Ok(peers)
    }

    /// The runtime's view: `None` for a process alone.
    pub(super) fn runtime(&self, recovery_state: bool) -> Option<ClusterConfig> {
        let peers = self.peers().ok().filter(|peers| peers.len() > 1)?;
        let addresses = peers.into_iter().map(|peer| peer.timely).collect();
        Some(ClusterConfig { process: self.process_index, addresses, recovery_state })
    }

    /// Its rules, as (setting, problem).
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = broken([
            ((1..=1024).contains(&self.processes), "cluster.processes", "must be from 1 to 1024"),
            (self.process_index < self.processes, "cluster.process_index", "must be less than cluster.processes"),
        ]);
        if let Err(problem) = self.peers() {
            problems.push(("cluster.peers".to_string(), problem));
        }
        problems.extend(ca_file_problem("cluster.ca_file", self.ca_file.as_deref()));
        problems
    }
}
