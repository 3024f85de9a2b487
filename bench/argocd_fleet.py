#!/usr/bin/env python3
"""Writes an Argo CD repository for figures on declared state as Argo CD builds it: OUT/repo (not yet a Git
repository).

- argocd/root.yaml: a root Application managing argocd/ (itself included), argocd/apps.yaml: an app of apps
  rendering one Application per entry of charts/apps/values.yaml;
- HELM Applications of the chart `web` from the Helm repository HELM_REPO (a version range, valuesObject);
- KUSTOMIZE Applications of apps/k<i> (a base with a Deployment, Service and ConfigMaps; namePrefix, images,
  commonLabels from the Application);
- DIRECTORY Applications of apps/d<i>, each OBJECTS ConfigMaps in several files.

usage: argocd_fleet.py OUT --git-url URL --helm-repo URL [--helm 25] [--kustomize 15] [--directory 15]
       [--objects 70]   (deterministic)"""
import argparse
import os


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--git-url", required=True)
    p.add_argument("--helm-repo", required=True)
    p.add_argument("--helm", type=int, default=25)
    p.add_argument("--kustomize", type=int, default=15)
    p.add_argument("--directory", type=int, default=15)
    p.add_argument("--objects", type=int, default=70)
    a = p.parse_args()
    repo = os.path.join(a.out, "repo")
    write(f"{repo}/argocd/root.yaml", f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: root
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {a.git_url}
    targetRevision: HEAD
    path: argocd
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
""")
    write(f"{repo}/argocd/apps.yaml", f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: apps
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {a.git_url}
    targetRevision: HEAD
    path: charts/apps
  destination:
    server: https://kubernetes.default.svc
    namespace: argocd
""")
    write(f"{repo}/charts/apps/Chart.yaml", "apiVersion: v2\nname: apps\nversion: 0.1.0\n")
    write(f"{repo}/charts/apps/templates/apps.yaml", """{{- range .Values.apps }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .name }}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {{ $.Values.gitURL }}
    targetRevision: HEAD
    path: {{ .path }}
    {{- with .kustomize }}
    kustomize:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  destination:
    server: https://kubernetes.default.svc
    namespace: {{ .name }}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
{{- end }}
""")
    apps = []
    for i in range(a.kustomize):
        name = f"k{i}"
        apps.append(f"""  - name: {name}
    path: apps/{name}
    kustomize:
      namePrefix: prod-
      images: [ghcr.io/example/{name}=ghcr.io/example/{name}:1.{i}.0]
      commonLabels: {{team: t{i % 5}}}
""")
        write(f"{repo}/apps/{name}/kustomization.yaml",
              "resources: [deployment.yaml, service.yaml, config.yaml]\n")
        write(f"{repo}/apps/{name}/deployment.yaml", f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: ghcr.io/example/{name}:1.0.0
          ports: [{{containerPort: 8080}}]
""")
        write(f"{repo}/apps/{name}/service.yaml", f"""apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
""")
        write(f"{repo}/apps/{name}/config.yaml", "\n---\n".join(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-c{j}\ndata:\n  key: v{j}\n"
            for j in range(8)))
    for i in range(a.directory):
        name = f"d{i}"
        apps.append(f"  - name: {name}\n    path: apps/{name}\n")
        per_file = 10
        for f in range(0, a.objects, per_file):
            write(f"{repo}/apps/{name}/part{f // per_file}.yaml", "\n---\n".join(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-c{j}\ndata:\n  key: v{j}\n"
                for j in range(f, min(f + per_file, a.objects))))
    write(f"{repo}/charts/apps/values.yaml", f"gitURL: {a.git_url}\napps:\n" + "".join(apps))
    for i in range(a.helm):
        write(f"{repo}/argocd/helm-{i}.yaml", f"""apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: h{i}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: {a.helm_repo}
    chart: web
    targetRevision: ">=1.0.0 <2.0.0"
    helm:
      valuesObject:
        replicaCount: {1 + i % 3}
        image:
          tag: "2.{i}.0"
  destination:
    server: https://kubernetes.default.svc
    namespace: h{i}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
""")


if __name__ == "__main__":
    main()
