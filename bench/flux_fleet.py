#!/usr/bin/env python3
"""Writes a Flux fleet the size of a large home-lab repository, for bench/flux: OUT/repo (not yet a Git
repository) and OUT/charts (chart sources to package and serve).

- clusters/prod/flux-system/gotk-sync.yaml: the bootstrap GitRepository and Kustomization (path clusters/prod),
  clusters/prod/*.yaml: one Kustomization per app and per release group, a HelmRepository;
- apps/<team>/<app>/{base,prod}: N_APPS kustomize apps (base + overlay with a patch, a component, images,
  postBuild substitution), each a Deployment, Service, ServiceAccount, ConfigMap, HPA and PDB;
- releases/<group>/*.yaml: N_RELEASES HelmReleases from N_CHARTS charts (a version constraint each), each
  chart rendering about 16 objects.

usage: flux_fleet.py OUT --helm-repo URL [--apps 70] [--releases 60] [--charts 10]   (deterministic)"""
import argparse
import os

here = os.path.dirname(os.path.abspath(__file__))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def app_base(name):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      serviceAccountName: {name}
      containers:
        - name: app
          image: registry.example.com/apps/{name}:1.0.0
          args: ["--port=8080", "--log-format=json"]
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: CLUSTER
              value: ${{cluster}}
            - name: REGION
              value: ${{region}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
data:
  LOG_LEVEL: info
  FEATURES: search,checkout
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {name}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {name}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {name}
  ingress:
    - ports:
        - port: 8080
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [{name}-config]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {name}
subjects:
  - kind: ServiceAccount
    name: {name}
"""


CHART_TEMPLATES = {
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      serviceAccountName: {{ .Release.Name }}
      containers:
        - name: main
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - name: http
              containerPort: 8080
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
""",
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - name: http
      port: 80
      targetPort: http
""",
    "serviceaccount.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
""",
    "configmaps.yaml": """{{- range $i := until 11 }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-config-{{ $i }}
data:
  index: "{{ $i }}"
  setting: {{ $.Values.setting | quote }}
{{- end }}
""",
    "rbac.yaml": """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}
subjects:
  - kind: ServiceAccount
    name: {{ .Release.Name }}
""",
    "extras.yaml": """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Release.Name }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  ingress:
    - ports:
        - port: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}
spec:
  rules:
    - host: {{ .Release.Name }}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}
                port:
                  name: http
""",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--helm-repo", required=True)
    p.add_argument("--apps", type=int, default=70)
    p.add_argument("--releases", type=int, default=60)
    p.add_argument("--charts", type=int, default=10)
    a = p.parse_args()
    repo, charts = os.path.join(a.out, "repo"), os.path.join(a.out, "charts")

    write(f"{repo}/clusters/prod/flux-system/gotk-sync.yaml", """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  url: https://git.example.com/fleet.git
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/prod
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
""")
    write(f"{repo}/clusters/prod/flux-system/kustomization.yaml", "resources:\n  - gotk-sync.yaml\n")
    write(f"{repo}/clusters/prod/sources.yaml", f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: flux-system
spec:
  interval: 10m
  url: {a.helm_repo}
""")
    write(f"{repo}/components/tracing/kustomization.yaml", """apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target:
      kind: Deployment
    patch: |
      - op: add
        path: /spec/template/metadata/annotations
        value:
          tracing.example.com/enabled: "true"
""")
    kustomizations = []
    for i in range(a.apps):
        team, name = f"team-{i % 8}", f"app-{i}"
        base = f"apps/{team}/{name}/base"
        write(f"{repo}/{base}/resources.yaml", app_base(name))
        write(f"{repo}/{base}/kustomization.yaml", "resources:\n  - resources.yaml\n")
        write(f"{repo}/apps/{team}/{name}/prod/kustomization.yaml", f"""resources:
  - ../base
patches:
  - patch: |
      - op: replace
        path: /spec/replicas
        value: {3 + i % 3}
    target:
      kind: Deployment
""")
        kustomizations.append(f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/{team}/{name}/prod
  prune: true
  targetNamespace: {team}
  sourceRef:
    kind: GitRepository
    name: flux-system
  components:
    - ../../../../components/tracing
  images:
    - name: registry.example.com/apps/{name}
      newTag: 1.{i % 5}.0
  postBuild:
    substitute:
      cluster: prod
      region: eu-west-{1 + i % 3}
""")
    write(f"{repo}/clusters/prod/apps.yaml", "---\n".join(kustomizations))

    groups = max(1, a.releases // 10)
    release_ks = []
    for g in range(groups):
        release_ks.append(f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: releases-{g}
  namespace: flux-system
spec:
  interval: 10m
  path: ./releases/group-{g}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
""")
    write(f"{repo}/clusters/prod/releases.yaml", "---\n".join(release_ks))
    for r in range(a.releases):
        chart = f"chart-{r % a.charts}"
        write(f"{repo}/releases/group-{r % groups}/release-{r}.yaml", f"""apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: release-{r}
  namespace: services-{r % 6}
spec:
  interval: 10m
  chart:
    spec:
      chart: {chart}
      version: ">=1.0.0 <2.0.0"
      sourceRef:
        kind: HelmRepository
        name: charts
        namespace: flux-system
  values:
    replicaCount: {1 + r % 4}
    setting: value-{r}
    image:
      repository: registry.example.com/services/release-{r}
      tag: "2.{r % 7}.0"
""")
    for c in range(a.charts):
        chart = f"chart-{c}"
        write(f"{charts}/{chart}/Chart.yaml", f"apiVersion: v2\nname: {chart}\nversion: 0.0.0\n")
        write(f"{charts}/{chart}/values.yaml", """replicaCount: 1
setting: default
image:
  repository: registry.example.com/default
  tag: latest
resources:
  requests: {cpu: 50m, memory: 64Mi}
  limits: {cpu: 200m, memory: 128Mi}
""")
        for name, text in CHART_TEMPLATES.items():
            write(f"{charts}/{chart}/templates/{name}", text)


if __name__ == "__main__":
    main()
