#!/usr/bin/env python3
"""Derives the benchmark's own corpus from the anchors' deployment-update.json (../shared/anchors/corpus):

- shop-web.yaml: what Git declares for the Deployment shop/web, i.e. the corpus Deployment as a person would
  write it (replicas 3, no server-set metadata, no API defaults, no status). A person's `kubectl edit` to
  replicas 5 (the anchors' deployment-update.json) is then a governed-path change of a declared object.
- flux-apply.json: Flux's kustomize-controller server-side applying that manifest after an image bump
  (1.4.1 -> 1.4.2): an AdmissionReview UPDATE whose object holds the declared one plus API defaults,
  Flux's labels and managedFields, with oldObject the live object before. gitgate allows it as
  agent-matches-git.

usage: gen.py [ANCHORS_CORPUS_DIR]   (writes next to this script; deterministic)"""
import copy, json, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))
anchors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "anchors", "corpus")
with open(os.path.join(anchors, "deployment-update.json")) as f:
    review = json.load(f)
live = review["request"]["oldObject"]  # replicas 3: the state Git declares

# --- the Git manifest -------------------------------------------------------------------------------------
def declared_container(c):
    out = {"name": c["name"], "image": c["image"],
           "ports": [{"name": p["name"], "containerPort": p["containerPort"]} for p in c["ports"]],
           "env": c["env"], "resources": c["resources"]}
    for probe in ("livenessProbe", "readinessProbe"):
        p = c[probe]
        out[probe] = {"httpGet": {"path": p["httpGet"]["path"], "port": p["httpGet"]["port"]},
                      "periodSeconds": p["periodSeconds"]}
        if "initialDelaySeconds" in p:
            out[probe]["initialDelaySeconds"] = p["initialDelaySeconds"]
    out["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] == "config"]
    out["securityContext"] = c["securityContext"]
    return out

pod = live["spec"]["template"]["spec"]
declared = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
        "replicas": live["spec"]["replicas"],
        "selector": live["spec"]["selector"],
        "strategy": live["spec"]["strategy"],
        "template": {
            "metadata": {"labels": live["spec"]["template"]["metadata"]["labels"]},
            "spec": {"serviceAccountName": pod["serviceAccountName"], "securityContext": pod["securityContext"],
                     "containers": [declared_container(c) for c in pod["containers"]],
                     "volumes": [{"name": "config", "configMap": {"name": "web-config"}}]}}}}


PLAIN = re.compile(r"^[A-Za-z/][A-Za-z0-9_./@-]*$")
RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def yaml_scalar(v):
    if v is True: return "true"
    if v is False: return "false"
    if v is None: return "null"
    if isinstance(v, (int, float)): return json.dumps(v)
    if PLAIN.match(v) and v.lower() not in RESERVED: return v
    return json.dumps(v)  # double-quoted YAML is JSON-compatible


def to_yaml(v, indent=0):
    pad = "  " * indent
    lines = []
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append(f"{pad}{k}:")
                lines.extend(to_yaml(x, indent + 1 if isinstance(x, dict) else indent))
            else:
                lines.append(f"{pad}{k}: {yaml_scalar(x) if not isinstance(x, (dict, list)) else json.dumps(x)}")
    else:
        for x in v:
            if isinstance(x, dict):
                sub = to_yaml(x, indent + 1)
                sub[0] = f"{pad}- " + sub[0].lstrip()
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {yaml_scalar(x)}")
    return lines


with open(os.path.join(here, "shop-web.yaml"), "w") as f:
    f.write("# Git's declaration of Deployment shop/web (made by bench/corpus/gen.py from the anchors' corpus).\n")
    f.write("\n".join(to_yaml(declared)) + "\n")

# --- Flux's server-side apply ---------------------------------------------------------------------------
old = copy.deepcopy(live)
old["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/web:1.4.1"
old["metadata"]["resourceVersion"] = "48102"
new = copy.deepcopy(live)
new["metadata"]["generation"] = 5
new["metadata"]["resourceVersion"] = "48211"
apply_entry = new["metadata"]["managedFields"][0]
apply_entry["time"] = "2026-11-20T11:02:17Z"
flux_user = {"username": "system:serviceaccount:flux-system:kustomize-controller",
             "uid": "7d3e9f1a-2b4c-4d5e-8f6a-1b2c3d4e5f60",
             "groups": ["system:serviceaccounts", "system:serviceaccounts:flux-system", "system:authenticated"]}
flux = {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {
    "uid": "4b8e1f2a-6c3d-4e7f-9a0b-1c2d3e4f5a6b",
    "kind": review["request"]["kind"], "resource": review["request"]["resource"],
    "requestKind": review["request"]["kind"], "requestResource": review["request"]["resource"],
    "name": "web", "namespace": "shop", "operation": "UPDATE", "userInfo": flux_user,
    "object": new, "oldObject": old, "dryRun": False,
    "options": {"kind": "PatchOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kustomize-controller",
                "force": True}}}
with open(os.path.join(here, "flux-apply.json"), "w") as f:
    json.dump(flux, f, separators=(",", ":"))
for name in ("shop-web.yaml", "flux-apply.json"):
    print(name, os.path.getsize(os.path.join(here, name)), "bytes")
