#!/usr/bin/env python3
"""Checks the Kubernetes manifests in examples/ offline.

For each folder with a kustomization.yaml: its resources, in the order kustomize applies them
(the namespace first), each validated strictly against the Kubernetes OpenAPI schemas
(kubernetes-validate, no cluster), and every pod template against the Pod Security
"restricted" profile's rules, plus what hookrun's image needs: probes on /healthz and
/readyz, resources, a metrics port, a Role limited by resourceNames, an image reference that
names a registry.

Usage: tests/manifests/check.py [EXAMPLES_DIR]   (run with the venv scripts/test prepares)
"""
import glob
import os
import sys

import kubernetes_validate
import yaml

failures = []


def fail(where, what):
    failures.append("%s: %s" % (where, what))


def restricted(where, pod):
    """Pod Security Standards, "restricted" (v1.25+), the rules a template can break."""
    psc = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            fail(where, "%s is not allowed" % key)
    for v in pod.get("volumes", []):
        if "hostPath" in v:
            fail(where, "hostPath volume %s is not allowed" % v.get("name"))
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    for c in containers:
        at = "%s: container %s" % (where, c.get("name"))
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            fail(at, "privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(at, "allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            fail(at, "capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            fail(at, "capabilities.add beyond NET_BIND_SERVICE")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            fail(at, "runAsNonRoot must be true")
        if sc.get("runAsUser", psc.get("runAsUser")) == 0:
            fail(at, "runAsUser 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            fail(at, "seccompProfile must be RuntimeDefault or Localhost (got %r)" % seccomp)
        for port in c.get("ports", []):
            if port.get("hostPort"):
                fail(at, "hostPort")


def hookrun_needs(where, docs):
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            at = "%s: container %s" % (where, c["name"])
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                fail(at, "readinessProbe must GET /readyz")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                fail(at, "livenessProbe must GET /healthz")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits", {}).get("memory"):
                fail(at, "resources need requests and a memory limit")
            if "metrics" not in [p.get("name") for p in c.get("ports", [])]:
                fail(at, "no port named metrics")
            image = c.get("image", "")
            if "/" not in image.split(":")[0] or image.endswith(":latest"):
                fail(at, "image %r names no registry or is :latest" % image)
    for role in [d for d in docs if d.get("kind") == "Role"]:
        for rule in role.get("rules", []):
            if set(rule.get("verbs", [])) & {"patch", "update", "delete", "create"} \
                    and not rule.get("resourceNames"):
                fail(where, "Role %s writes without resourceNames" % role["metadata"]["name"])


def build(folder):
    """The resources of a kustomization, images replaced as kustomize replaces them."""
    kust = yaml.safe_load(open(os.path.join(folder, "kustomization.yaml")))
    docs = []
    for res in kust.get("resources", []):
        docs += [d for d in yaml.safe_load_all(open(os.path.join(folder, res))) if d]
    images = {i["name"]: "%s:%s" % (i.get("newName", i["name"]), i["newTag"])
              for i in kust.get("images", [])}
    for d in docs:
        pod = d.get("spec", {}).get("template", {}).get("spec")
        for c in (pod or {}).get("containers", []):
            c["image"] = images.get(c["image"], c["image"])
    return docs


def main():
    examples = sys.argv[1] if len(sys.argv) > 1 else "examples"
    folders = sorted(os.path.dirname(k) for k in glob.glob(os.path.join(examples, "*", "kustomization.yaml")))
    if not folders:
        fail(examples, "no kustomization.yaml")
    checked = 0
    for folder in folders:
        docs = build(folder)
        if docs and docs[0].get("kind") != "Namespace":
            fail(folder, "the first resource must be the Namespace")
        for d in docs:
            where = "%s: %s/%s" % (folder, d.get("kind"), d.get("metadata", {}).get("name"))
            try:
                kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(where, "schema: %s" % e.message)
            pod = d.get("spec", {}).get("template", {}).get("spec")
            if pod:
                restricted(where, pod)
            checked += 1
        hookrun_needs(folder, docs)
    print("manifests: %d resources in %d folders checked against Kubernetes %s, %d failures"
          % (checked, len(folders), kubernetes_validate.latest_version(), len(failures)))
    for f in failures:
        print("FAIL " + f)
    sys.exit(1 if failures else 0)


main()
