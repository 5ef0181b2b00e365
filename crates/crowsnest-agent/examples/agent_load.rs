//! Load test: N simulated agents in one process (each with its own HTTP client, so its own
//! connections) register, report once and heartbeat against a running `crowsnest serve`;
//! prints request latencies and, given the server's pid, its CPU use. Driven by
//! `scripts/agent-load.sh`.
//!
//! Usage: agent_load SERVER_URL ENROL_ID:SECRET [AGENTS=1000] [HEARTBEATS=10] [SERVER_PID]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crowsnest_agent::client::{authorization, Key};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

async fn post(
    http: &reqwest::Client,
    base: &reqwest::Url,
    key: &Key,
    path: &str,
    body: &Value,
) -> (u16, Duration, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let url = base.join(path).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let nonce = uuid::Uuid::new_v4().to_string();
    let auth = authorization(key, "POST", url.path(), &host, &date, &nonce, &body);
    let started = Instant::now();
    let resp = http
        .post(url)
        .header("x-sdk-date", date)
        .header("x-crowsnest-nonce", nonce)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match resp {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let value = resp.json().await.unwrap_or(Value::Null);
            (status, started.elapsed(), value)
        }
        Err(_) => (0, started.elapsed(), Value::Null),
    }
}

fn summary(name: &str, mut ms: Vec<f64>, errors: usize) -> Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() as f64 - 1.0) * q).round() as usize]
        }
    };
    json!({
        "requests": name,
        "count": ms.len(),
        "errors": errors,
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = reqwest::Url::parse(&args[1]).unwrap();
    let enrol = Key::parse(&args[2]).unwrap();
    let agents: usize = args.get(3).map_or(1000, |a| a.parse().unwrap());
    let heartbeats: usize = args.get(4).map_or(10, |a| a.parse().unwrap());
    let server_pid: Option<u32> = args.get(5).map(|a| a.parse().unwrap());

    // Registration, 50 at a time (an enrolment burst).
    let started = Instant::now();
    let cpu0 = server_pid.map(cpu_secs);
    let gate = Arc::new(Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..agents {
        let (base, enrol, gate) = (base.clone(), enrol.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let http = reqwest::Client::new();
            let body = json!({ "host_uid": format!("load-host-{i:05}"), "host_name": format!("node-{i}") });
            let (status, took, v) = post(&http, &base, &enrol, "/api/v1/agents", &body).await;
            let key = (status == 201).then(|| Key {
                id: v["access_key_id"].as_str().unwrap().to_owned(),
                secret: v["access_key_secret"].as_str().unwrap().to_owned(),
            });
            (key, took)
        }));
    }
    let mut keys = Vec::new();
    let mut reg_ms = Vec::new();
    let mut reg_errors = 0;
    for t in tasks {
        let (key, took) = t.await.unwrap();
        reg_ms.push(took.as_secs_f64() * 1000.0);
        match key {
            Some(k) => keys.push(k),
            None => reg_errors += 1,
        }
    }
    let registered = started.elapsed();

    // Every agent at once: one report (3 images from a pool of 50 digests shared across
    // hosts, 3 containers, a pod), then a heartbeat a second, each agent on its own client.
    let phase = Instant::now();
    let mut tasks = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            // Spread the agents' starts over one heartbeat interval, as real agents drift.
            tokio::time::sleep(Duration::from_millis((i as u64 * 997) % 1000)).await;
            let images: Vec<Value> = (0..3)
                .map(|j| {
                    let n = (i * 3 + j) % 50;
                    json!({
                        "name": format!("registry.example.com/team/app{n}"), "tag": "1.0",
                        "digest": format!("sha256:{n:064x}"), "size_bytes": 50_000_000 + n,
                        "updated_ms": 1_700_000_000_000_i64, "image_type": "other_image", "runtime": "containerd"
                    })
                })
                .collect();
            let containers: Vec<Value> = (0..3)
                .map(|j| {
                    let n = (i * 3 + j) % 50;
                    json!({ "id": format!("c-{i}-{j}"), "name": format!("app{n}-{j}"),
                            "image": format!("registry.example.com/team/app{n}:1.0"),
                            "image_digest": format!("sha256:{n:064x}"), "status": "running",
                            "pod_uid": format!("pod-{i}") })
                })
                .collect();
            let report = json!({
                "report_id": uuid::Uuid::new_v4().to_string(),
                "created_ms": 1,
                "host": { "uid": format!("load-host-{i:05}"), "name": format!("node-{i}"),
                          "private_ip": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256) },
                "images": images,
                "containers": containers,
                "pods": [{ "uid": format!("pod-{i}"), "name": format!("app-{i}"), "namespace": "default" }],
            });
            let mut results = Vec::new();
            let (status, took, _) = post(&http, &base, &key, "/api/v1/agents/reports", &report).await;
            results.push(("report", status, took));
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for n in 0..heartbeats {
                tick.tick().await;
                let body = json!({ "sent_ms": n, "queued": 0 });
                let (status, took, _) =
                    post(&http, &base, &key, "/api/v1/agents/heartbeat", &body).await;
                results.push(("heartbeat", status, took));
            }
            results
        }));
    }
    let (mut report_ms, mut hb_ms) = (Vec::new(), Vec::new());
    let (mut report_err, mut hb_err) = (0, 0);
    for t in tasks {
        for (kind, status, took) in t.await.unwrap() {
            let ms = took.as_secs_f64() * 1000.0;
            match (kind, status == 200) {
                ("report", true) => report_ms.push(ms),
                ("report", false) => report_err += 1,
                (_, true) => hb_ms.push(ms),
                (_, false) => hb_err += 1,
            }
        }
    }
    let steady = phase.elapsed();
    let cpu = server_pid.map(cpu_secs);
    let wall = started.elapsed().as_secs_f64();
    let out = json!({
        "agents": agents,
        "heartbeats_per_agent": heartbeats,
        "registration_s": registered.as_secs_f64(),
        "report_and_heartbeat_phase_s": steady.as_secs_f64(),
        "latency": [
            summary("register", reg_ms, reg_errors),
            summary("report", report_ms, report_err),
            summary("heartbeat", hb_ms, hb_err),
        ],
        "server_cpu_s": cpu.zip(cpu0).map(|(b, a)| b - a),
        "server_cpu_percent_of_one_core": cpu.zip(cpu0).map(|(b, a)| 100.0 * (b - a) / wall),
        "wall_s": wall,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
