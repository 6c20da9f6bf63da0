//! The deployment recipes under `deploy/` (docs/deploy.md) cannot rot: every YAML file parses,
//! the Kubernetes manifests pass `kubernetes-validate --strict` (schemas bundled with the pinned
//! package, offline), every `EDGEGATE_*` variable and subcommand they use exists in the binary's
//! own `--help`, compose references only services it defines, and the config files they carry pass
//! `edgegate config check`. No Docker engine or cluster is needed, and none is used.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::api_codes::python;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn k8s_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Parses the YAML files with PyYAML from the test venv; each file's documents as JSON.
fn yaml_documents(files: &[PathBuf]) -> Vec<(PathBuf, Vec<serde_json::Value>)> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        print(json.dumps([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]))\n";
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .args(files)
        .output()
        .expect("run the test venv's python");
    assert!(
        out.status.success(),
        "YAML does not parse:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out.stdout).unwrap();
    files.iter().cloned().zip(docs).collect()
}

fn edgegate(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args(args)
        .output()
        .expect("run edgegate");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Asserts that every `EDGEGATE_*` name is a variable `edgegate serve --help` documents.
fn assert_known_variables<'a>(names: impl IntoIterator<Item = &'a str>, help: &str, wher: &str) {
    let mut n = 0;
    for name in names.into_iter().filter(|n| n.starts_with("EDGEGATE_")) {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{wher}: {name} is not a variable of `edgegate serve`"
        );
        n += 1;
    }
    assert!(n >= 5, "{wher}: only {n} EDGEGATE_ variables checked");
}

fn kubernetes_validate(files: &[PathBuf]) -> (bool, String) {
    let bin = python().with_file_name("kubernetes-validate");
    let o = Command::new(&bin)
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-test-env)", bin.display()));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn kubernetes_manifests_pass_the_schemas() {
    let files = k8s_files();
    let (ok, out) = kubernetes_validate(&files);
    assert!(ok, "{out}");
    for kind in ["deployment/", "service/", "serviceaccount/", "configmap/"] {
        assert!(out.contains(kind), "no {kind} validated:\n{out}");
    }
    // The check can fail: a misspelt field in a copy of the Deployment is rejected.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("deployment.yaml");
    let text = std::fs::read_to_string(deploy_dir().join("k8s/deployment.yaml")).unwrap();
    assert!(text.contains("readinessProbe:"));
    std::fs::write(&bad, text.replace("readinessProbe:", "readinesProbe:")).unwrap();
    let (ok, out) = kubernetes_validate(&[bad]);
    assert!(!ok, "a misspelt field passed:\n{out}");
}

#[test]
fn kubernetes_manifests_use_what_edgegate_has() {
    let (ok, help) = edgegate(&["serve", "--help"]);
    assert!(ok, "{help}");
    let (ok, top) = edgegate(&["--help"]);
    assert!(ok, "{top}");
    let docs = yaml_documents(&k8s_files());
    let all: Vec<&serde_json::Value> = docs.iter().flat_map(|(_, d)| d).collect();
    let find = |kind: &str| {
        all.iter()
            .copied()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };

    let dep = find("Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let sub = c["args"][0].as_str().unwrap();
    assert!(
        top.contains(&format!("  {sub} ")),
        "edgegate has no `{sub}`"
    );
    let env = c["env"].as_array().unwrap();
    assert_known_variables(
        env.iter().map(|e| e["name"].as_str().unwrap()),
        &help,
        "deployment.yaml",
    );
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
    };
    // Readiness on the admin listener's /healthz.
    let admin_port = var("EDGEGATE_ADMIN_LISTEN")
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    let ports = c["ports"].as_array().unwrap();
    let admin = ports.iter().find(|p| p["name"] == "admin").unwrap();
    assert_eq!(admin["containerPort"].to_string(), admin_port);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "admin");
    // Credentials through the annotated ServiceAccount.
    let sa = find("ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    assert!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::")),
        "{sa}"
    );
    // The config file from the ConfigMap passes `config check`, and its drain ends before
    // Kubernetes' SIGKILL.
    let cm = find("ConfigMap");
    let toml_text = cm["data"]["edgegate.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edgegate.toml");
    std::fs::write(&file, toml_text).unwrap();
    let (ok, out) = edgegate(&["config", "check", file.to_str().unwrap()]);
    assert!(ok && !out.contains("warning"), "{out}");
    let drain = drain_timeout(toml_text);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        drain < grace,
        "drain_timeout {drain} >= grace period {grace}"
    );
    // The Service selects the Deployment's pods.
    for (k, v) in find("Service")["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&dep["spec"]["template"]["metadata"]["labels"][k], v, "{k}");
    }
    // The pop/region pair the pods run with resolves (no contradiction).
    let region = var("EDGEGATE_BILLING_REGION").unwrap();
    check_pop_region(var("EDGEGATE_POP"), region, "deployment.yaml");

    // The Origin Shield: its own Deployment, out of the viewer Service, reachable at the URL it
    // advertises through a Service that selects it, in one of CloudFront's shield regions.
    let shield = all
        .iter()
        .copied()
        .find(|d| {
            d["kind"] == "Deployment"
                && d["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|v| v["name"] == "EDGEGATE_SHIELD_REGION"))
        })
        .expect("a Deployment serving as Origin Shield");
    let sc = &shield["spec"]["template"]["spec"]["containers"][0];
    let senv = sc["env"].as_array().unwrap();
    assert_known_variables(
        senv.iter().map(|e| e["name"].as_str().unwrap()),
        &help,
        "shield.yaml",
    );
    let svar = |name: &str| {
        senv.iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("shield.yaml sets no {name}"))
    };
    let shield_region = svar("EDGEGATE_SHIELD_REGION");
    assert!(
        edgegate::model::distribution::ORIGIN_SHIELD_REGIONS.contains(&shield_region),
        "{shield_region} is not an Origin Shield region"
    );
    assert_eq!(
        svar("EDGEGATE_STATE"),
        var("EDGEGATE_STATE").unwrap(),
        "one bucket"
    );
    let labels = &shield["spec"]["template"]["metadata"]["labels"];
    let viewer = find("Service");
    assert!(
        viewer["spec"]["selector"]
            .as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| &labels[k] != v),
        "the viewer Service must not select the shield"
    );
    let advertised: http::Uri = svar("EDGEGATE_SHIELD_ADVERTISE").parse().unwrap();
    let host = advertised.host().unwrap();
    let service = all
        .iter()
        .find(|d| {
            d["kind"] == "Service"
                && host.starts_with(&format!(
                    "{}.{}.svc",
                    d["metadata"]["name"].as_str().unwrap(),
                    d["metadata"]["namespace"].as_str().unwrap()
                ))
        })
        .unwrap_or_else(|| panic!("no Service answers at {advertised}"));
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "the shield Service selects the shield ({k})");
    }
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["port"].as_u64(), advertised.port_u16().map(u64::from));
    let viewer_port = sc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == port["targetPort"]);
    let listen_port = svar("EDGEGATE_LISTEN")
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        viewer_port.map(|p| p["containerPort"].to_string()),
        Some(listen_port),
        "the shield Service reaches the shield's viewer listener"
    );
}

fn drain_timeout(toml_text: &str) -> u64 {
    toml_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("drain_timeout = "))
        .expect("drain_timeout set")
        .parse()
        .unwrap()
}

/// Runs `edgegate config check` on a file with this pop and region: accepted without a warning.
fn check_pop_region(pop: Option<&str>, region: &str, wher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    let mut text = format!("billing_region = \"{region}\"\n");
    if let Some(p) = pop {
        text.push_str(&format!("pop = \"{p}\"\n"));
    }
    std::fs::write(&file, text).unwrap();
    let (ok, out) = edgegate(&["config", "check", file.to_str().unwrap()]);
    assert!(ok && !out.contains("warning"), "{wher}: {out}");
}

#[test]
fn compose_file_uses_what_edgegate_has() {
    let (ok, help) = edgegate(&["serve", "--help"]);
    assert!(ok, "{help}");
    let path = deploy_dir().join("compose.yaml");
    let docs = yaml_documents(std::slice::from_ref(&path));
    let compose = &docs[0].1[0];
    let services = compose["services"].as_object().unwrap();
    for name in ["minio", "bucket-init"] {
        assert!(services.contains_key(name), "no {name}");
    }
    // Every dependency is a service of the file.
    for (name, s) in services {
        if let Some(deps) = s["depends_on"].as_object() {
            for d in deps.keys() {
                assert!(services.contains_key(d), "{name} depends on unknown {d}");
            }
        }
    }
    // The init container creates the bucket the edges keep their state in.
    let init = services["bucket-init"]["command"].to_string();
    let edges: Vec<(&String, &serde_json::Value)> = services
        .iter()
        .filter(|(n, _)| n.starts_with("edge-"))
        .collect();
    assert_eq!(edges.len(), 3, "three edges");
    let config = deploy_dir().join("edgegate.toml");
    let (ok, out) = edgegate(&["config", "check", config.to_str().unwrap()]);
    assert!(ok && !out.contains("warning"), "{out}");
    let drain = drain_timeout(&std::fs::read_to_string(&config).unwrap());
    let mut regions = Vec::new();
    for (name, s) in edges {
        let env = s["environment"].as_object().unwrap();
        assert_known_variables(env.keys().map(String::as_str), &help, name);
        let state = env["EDGEGATE_STATE"].as_str().unwrap();
        let bucket = state
            .strip_prefix("s3://")
            .and_then(|r| r.split('/').next())
            .unwrap();
        assert!(
            init.contains(&format!("mb --ignore-existing shared/{bucket}")),
            "{name}: bucket {bucket} not created by bucket-init: {init}"
        );
        assert_eq!(
            s["depends_on"]["bucket-init"]["condition"],
            "service_completed_successfully"
        );
        let mount = s["volumes"][0].as_str().unwrap();
        let (host, inside) = mount.split_once(':').unwrap();
        assert_eq!(Path::new(host), Path::new("./edgegate.toml"));
        assert!(
            inside.starts_with(env["EDGEGATE_CONFIG"].as_str().unwrap()),
            "{name}: {mount}"
        );
        let grace: u64 = s["stop_grace_period"]
            .as_str()
            .unwrap()
            .strip_suffix('s')
            .unwrap()
            .parse()
            .unwrap();
        assert!(drain < grace, "{name}: drain_timeout {drain} >= {grace}");
        let region = env["EDGEGATE_BILLING_REGION"].as_str().unwrap();
        check_pop_region(
            env.get("EDGEGATE_POP").and_then(|p| p.as_str()),
            region,
            name,
        );
        regions.push(region.to_owned());
    }
    regions.sort();
    regions.dedup();
    assert_eq!(regions.len(), 3, "three billing regions: {regions:?}");
}
