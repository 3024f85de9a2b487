#!/usr/bin/env python3
"""Writes the benchmark's Git state: OUT/repo/clusters/prod/ with N declared objects, and OUT/policies/bench.yaml,
an enforce-mode GatePolicy whose agent is Flux's kustomize-controller and whose source is file://OUT/repo.

The objects are what a real fleet repository holds: shop/web.yaml (Git's Deployment shop/web, from
bench/corpus/shop-web.yaml, which the anchors' corpus and bench/corpus/flux-apply.json act on), then one
file per app in namespaces team-0..team-9, each a Deployment, a Service and a ConfigMap of 1-3 KB.

usage: fixture.py OUT [--objects N]   (N >= 1; deterministic; OUT/repo is not a Git repository yet)"""
import argparse, os

here = os.path.dirname(os.path.abspath(__file__))


def app(i):
    n, ns = f"app-{i}", f"team-{i % 10}"
    deployment = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {n}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {n}
    app.kubernetes.io/part-of: shop
  annotations:
    owner: platform-team@example.com
spec:
  replicas: {2 + i % 3}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {n}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {n}
    spec:
      serviceAccountName: {n}
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.example.com/shop/{n}:1.{i % 7}.{i % 13}
          args: ["--port=8080", "--log-format=json"]
          ports:
            - {{name: http, containerPort: 8080}}
          env:
            - name: DATABASE_HOST
              value: db.{ns}.svc.cluster.local
            - name: FEATURE_FLAGS
              value: checkout,recommendations,search
          envFrom:
            - configMapRef: {{name: {n}}}
          resources:
            requests: {{cpu: 250m, memory: 256Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          livenessProbe:
            httpGet: {{path: /livez, port: http}}
            initialDelaySeconds: 15
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
          volumeMounts:
            - {{name: config, mountPath: /etc/app}}
      volumes:
        - name: config
          configMap: {{name: {n}}}
"""
    service = f"""apiVersion: v1
kind: Service
metadata:
  name: {n}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: {n}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: "8080"
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: {n}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
"""
    config = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {n}
  namespace: {ns}
data:
  LOG_LEVEL: info
  CACHE_TTL: "{30 + i % 90}s"
  app.properties: |
    server.port=8080
    server.shutdown=graceful
    shop.region=eu-west-1
    shop.instance={n}
"""
    return [deployment, service, config]


POLICY = """# The benchmark's policy: every namespace but the system ones is governed, in enforce mode; Git is the
# local repository bench/fixture.py wrote; Flux's kustomize-controller is the agent.
apiVersion: gitgate.dev/v1alpha1
kind: GatePolicy
metadata:
  name: bench
spec:
  mode: enforce
  source:
    url: file://{repo}
    branch: main
    paths: [clusters/prod]
    interval: 1m
  scope:
    namespaces:
      include: ["*"]
      exclude: [kube-system, kube-public, kube-node-lease, flux-system]
  agents:
    - name: flux
      users: ["system:serviceaccount:flux-system:kustomize-controller"]
      mustMatchGit: true
  breakGlass:
    groups: ["gitgate:break-glass"]
  unmanaged: allow
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--objects", type=int, default=1000)
    args = ap.parse_args()
    if args.objects < 1:
        ap.error("--objects must be at least 1")
    out = os.path.abspath(args.out)
    root = os.path.join(out, "repo", "clusters", "prod")
    os.makedirs(os.path.join(root, "shop"), exist_ok=True)
    with open(os.path.join(here, "corpus", "shop-web.yaml")) as f:
        web = f.read()
    with open(os.path.join(root, "shop", "web.yaml"), "w") as f:
        f.write(web)
    written, i = 1, 0
    while written < args.objects:
        docs = app(i)[: args.objects - written]
        d = os.path.join(root, f"team-{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"app-{i}.yaml"), "w") as f:
            f.write("---\n".join(docs))
        written += len(docs)
        i += 1
    os.makedirs(os.path.join(out, "policies"), exist_ok=True)
    with open(os.path.join(out, "policies", "bench.yaml"), "w") as f:
        f.write(POLICY.format(repo=os.path.join(out, "repo")))
    print(f"{out}: {written} declared objects")


main()
