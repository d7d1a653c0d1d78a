#!/usr/bin/python3
"""fake-kube-api.py - a small RECORDING Kubernetes API server for testing kubectl-set-image.sh.

Python 3 standard library only. Plain HTTP on 127.0.0.1, no authentication.

It serves what `kubectl get`, `kubectl set image`, `kubectl rollout status` and
`kubectl rollout undo` use for apps/v1 Deployments, StatefulSets and DaemonSets:

  discovery      GET /version, /api, /api/v1, /apis, /apis/apps/v1 (legacy, non-aggregated)
  objects        GET, LIST (labelSelector, fieldSelector metadata.name), WATCH (chunked JSON
                 events, resourceVersion, timeoutSeconds), POST (create), PATCH
                 (strategic-merge, JSON merge and JSON patch), DELETE
  history        ReplicaSets (owned by a Deployment, revision annotation) and
                 ControllerRevisions (owned by a StatefulSet/DaemonSet, `revision`, `data` as the
                 real controllers write it: {"spec":{"template":{..., "$patch":"replace"}}}),
                 kept like the real controllers do, so `kubectl rollout undo` really works
  rollouts       simulated: a new pod template is "rolled out" after --ready-after seconds,
                 unless one of its images contains a --fail-image substring (Deployment:
                 condition Progressing=False, reason ProgressDeadlineExceeded, after
                 --progress-deadline seconds; StatefulSet/DaemonSet: never ready) or a
                 --hang-image substring (never ready)

Every request is recorded as one JSON line (time, method, path, query, content type, body,
status) in the --record file. Control endpoints (not Kubernetes):
  GET  /fake/requests           the recorded requests (JSON list)
  POST /fake/config             {"fail_images": [...], "hang_images": [...],
                                 "ready_after": S, "progress_deadline": S}
  POST /fake/objects            create an object (a Deployment/StatefulSet/DaemonSet as JSON)
  GET  /fake/objects            every stored object

Usage:
  fake-kube-api.py serve --port P [--record FILE] [--fail-image S]... [--hang-image S]...
                         [--ready-after S] [--progress-deadline S] [--object FILE.json]...
  fake-kube-api.py kubeconfig --port P [--namespace NS]
"""

import argparse
import copy
import hashlib
import json
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

WORKLOADS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
HISTORY = {"replicasets": "ReplicaSet", "controllerrevisions": "ControllerRevision"}
KINDS = {**WORKLOADS, **HISTORY}
REVISION = "deployment.kubernetes.io/revision"

# Strategic merge patch: merge keys of the lists in a pod template (k8s.io/api patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "conditions": "type",
}


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- patches ---------------------------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target, patch, field=None):
    """A strategic merge patch as kubectl sends it (maps, keyed lists, $patch directives)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    order = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            order[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$") or key.startswith("$deleteFromPrimitiveList/"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    for key, wanted in order.items():
        mkey = MERGE_KEYS.get(key)
        if mkey and isinstance(result.get(key), list):
            rank = {item.get(mkey): i for i, item in enumerate(wanted) if isinstance(item, dict)}
            result[key].sort(key=lambda item: rank.get(item.get(mkey), len(rank)))
    return result


def merge_list(current, patch, key):
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(copy.deepcopy(item))
            continue
        idx = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
        elif idx is None:
            result.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            result[idx] = strategic_merge(result[idx], item)
    return result


def json_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("bad JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902 JSON patch: add, remove, replace, test, copy, move."""
    doc = copy.deepcopy(doc)

    def parent(parts):
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def get(parts):
        node = doc
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def put(parts, value, replace):
        nonlocal doc
        if not parts:
            doc = value
            return
        node, last = parent(parts), parts[-1]
        if isinstance(node, list):
            if last == "-":
                node.append(value)
            elif replace:
                node[int(last)] = value
            else:
                node.insert(int(last), value)
        else:
            if replace and last not in node:
                raise KeyError(last)
            node[last] = value

    def remove(parts):
        node, last = parent(parts), parts[-1]
        if isinstance(node, list):
            return node.pop(int(last))
        return node.pop(last)

    for op in ops:
        parts = json_pointer(op["path"])
        kind = op["op"]
        if kind == "add":
            put(parts, copy.deepcopy(op["value"]), False)
        elif kind == "replace":
            put(parts, copy.deepcopy(op["value"]), True)
        elif kind == "remove":
            remove(parts)
        elif kind == "test":
            if get(parts) != op["value"]:
                raise ValueError("test failed at %s" % op["path"])
        elif kind == "copy":
            put(parts, copy.deepcopy(get(json_pointer(op["from"]))), False)
        elif kind == "move":
            value = remove(json_pointer(op["from"]))
            put(parts, value, False)
        else:
            raise ValueError("unknown op %r" % kind)
    return doc


# --- the store and the simulated controllers ---------------------------------------------------


class Conflict(Exception):
    pass


class Store:
    def __init__(self, opts):
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {}  # (resource, namespace, name) -> object
        self.events = []  # (rv, type, resource, namespace, object)
        self.rollouts = {}  # (resource, namespace, name) -> (started_at, images)
        self.fail_images = list(opts.fail_image or [])
        self.hang_images = list(opts.hang_image or [])
        self.ready_after = opts.ready_after
        self.progress_deadline = opts.progress_deadline

    # -- helpers

    def _bump(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return self.rv

    def _emit(self, kind, resource, obj):
        self.events.append((self.rv, kind, resource, obj["metadata"].get("namespace", ""), copy.deepcopy(obj)))
        self.lock.notify_all()

    def _store(self, resource, obj, kind="MODIFIED"):
        meta = obj["metadata"]
        self._bump(obj)
        self.objects[(resource, meta.get("namespace", ""), meta["name"])] = obj
        self._emit(kind, resource, obj)

    def list(self, resource, namespace, label_selector=None, name=None):
        out = []
        for (res, ns, n), obj in sorted(self.objects.items()):
            if res != resource or (namespace and ns != namespace) or (name and n != name):
                continue
            if label_selector and not matches(label_selector, obj["metadata"].get("labels") or {}):
                continue
            out.append(obj)
        return out

    # -- create / update

    def create(self, resource, namespace, obj):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("metadata.name is required")
        meta["namespace"] = namespace or meta.get("namespace") or "default"
        key = (resource, meta["namespace"], meta["name"])
        if key in self.objects:
            raise Conflict('%s "%s" already exists' % (resource, meta["name"]))
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        obj["apiVersion"] = "apps/v1"
        obj["kind"] = KINDS[resource]
        self.defaults(resource, obj)
        obj["status"] = {}
        self._store(resource, obj, "ADDED")
        if resource in WORKLOADS:
            self.new_template(resource, obj)
        return self.objects[key]

    def defaults(self, resource, obj):
        spec = obj.setdefault("spec", {})
        spec["template"] = prune(spec.get("template") or {})
        tmpl = spec["template"]
        tmpl.setdefault("metadata", {})
        tmpl.setdefault("spec", {}).setdefault("containers", [])
        if resource == "deployments":
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        elif resource == "statefulsets":
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        elif resource == "daemonsets":
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        if "selector" not in spec and resource in WORKLOADS:
            spec["selector"] = {"matchLabels": dict(tmpl["metadata"].get("labels") or {})}

    def update(self, resource, namespace, name, new):
        key = (resource, namespace, name)
        old = self.objects[key]
        new = copy.deepcopy(new)
        # Immutable and server-owned fields
        for f in ("uid", "creationTimestamp", "generation", "namespace", "name"):
            if f in old["metadata"]:
                new.setdefault("metadata", {})[f] = old["metadata"][f]
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        new["status"] = old.get("status", {})
        if resource in WORKLOADS:
            self.defaults(resource, new)
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        self._store(resource, new)
        if resource in WORKLOADS and template_of(new) != template_of(old):
            self.new_template(resource, new)
        return self.objects[key]

    def delete(self, resource, namespace, name):
        obj = self.objects.pop((resource, namespace, name))
        self._bump(obj)
        self._emit("DELETED", resource, obj)
        self.rollouts.pop((resource, namespace, name), None)
        return obj

    # -- controllers

    def new_template(self, resource, obj):
        """A workload got a new pod template: record history and start a rollout."""
        meta = obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        tmpl = template_of(obj)
        thash = template_hash(tmpl)
        owner = {"apiVersion": "apps/v1", "kind": obj["kind"], "name": name, "uid": meta["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        selector = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        if resource == "deployments":
            owned = [rs for rs in self.list("replicasets", ns) if owned_by(rs, meta["uid"])]
            top = max([int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned] or [0])
            same = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == thash), None)
            if same is None:
                rs_tmpl = copy.deepcopy(tmpl)
                rs_tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = thash
                same = {
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": "%s-%s" % (name, thash), "namespace": ns, "uid": str(uuid.uuid4()),
                                 "creationTimestamp": now_iso(), "generation": 1,
                                 "labels": dict(rs_tmpl["metadata"]["labels"]),
                                 "annotations": {}, "ownerReferences": [owner]},
                    "spec": {"replicas": obj["spec"].get("replicas", 1),
                             "selector": {"matchLabels": dict(selector, **{"pod-template-hash": thash})},
                             "template": rs_tmpl},
                    "status": {"replicas": 0, "observedGeneration": 1},
                }
            else:
                same = copy.deepcopy(same)
                same["metadata"].setdefault("annotations", {})
            revision = str(top + 1)
            same["metadata"]["annotations"][REVISION] = revision
            self._store("replicasets", same, "ADDED" if "resourceVersion" not in same["metadata"] else "MODIFIED")
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
            self._store(resource, obj)
        else:
            owned = [cr for cr in self.list("controllerrevisions", ns) if owned_by(cr, meta["uid"])]
            top = max([int(cr.get("revision", 0)) for cr in owned] or [0])
            crname = "%s-%s" % (name, thash)
            data_tmpl = copy.deepcopy(tmpl)
            data_tmpl["$patch"] = "replace"
            existing = next((cr for cr in owned if cr["metadata"]["name"] == crname), None)
            cr = copy.deepcopy(existing) if existing else {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": crname, "namespace": ns, "uid": str(uuid.uuid4()),
                             "creationTimestamp": now_iso(),
                             "labels": dict(selector, **{"controller-revision-hash": thash}),
                             "ownerReferences": [owner]},
                "data": {"spec": {"template": data_tmpl}},
            }
            cr["revision"] = top + 1
            self._store("controllerrevisions", cr, "MODIFIED" if existing else "ADDED")
        self.rollouts[(resource, ns, name)] = {"started": time.time(), "images": images_of(tmpl), "hash": thash,
                                               "state": None}
        self.tick()

    def outcome(self, images):
        if any(s and s in img for img in images for s in self.fail_images):
            return "fail"
        if any(s and s in img for img in images for s in self.hang_images):
            return "hang"
        return "ok"

    def tick(self):
        """Advance the simulated rollouts (called with the lock held)."""
        t = time.time()
        for key, ro in list(self.rollouts.items()):
            obj = self.objects.get(key)
            if obj is None:
                continue
            resource = key[0]
            elapsed = t - ro["started"]
            outcome = self.outcome(ro["images"])
            if outcome == "ok":
                state = "done" if elapsed >= self.ready_after else "progressing"
            elif outcome == "fail" and resource == "deployments" and elapsed >= self.progress_deadline:
                state = "deadline"
            else:
                state = "progressing" if elapsed < self.ready_after else "stuck"
            if state == ro["state"]:
                continue
            ro["state"] = state
            obj = copy.deepcopy(obj)
            obj["status"] = status_for(resource, obj, state, ro["hash"], self.objects, key)
            self._store(resource, obj)

    def set_config(self, cfg):
        for k in ("fail_images", "hang_images"):
            if k in cfg:
                setattr(self, k, list(cfg[k]))
        for k in ("ready_after", "progress_deadline"):
            if k in cfg:
                setattr(self, k, float(cfg[k]))
        for ro in self.rollouts.values():
            ro["state"] = None
        self.tick()


def prune(value):
    """Drop nulls and empty maps, as the real API server's Go structs (omitempty) do."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is None or (isinstance(v, dict) and not v and k != "$patch"):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def template_of(obj):
    return (obj.get("spec") or {}).get("template") or {}


def template_hash(tmpl):
    t = copy.deepcopy(tmpl)
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    t.pop("$patch", None)
    digest = hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()
    # like Kubernetes' SafeEncodeString: no vowels, no characters that spell words
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(digest[:16], 16)
    out = ""
    for _ in range(10):
        out += alphabet[n % len(alphabet)]
        n //= len(alphabet)
    return out


def images_of(tmpl):
    spec = tmpl.get("spec") or {}
    return [c.get("image", "") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]


def owned_by(obj, uid):
    return any(o.get("uid") == uid and o.get("controller") for o in obj["metadata"].get("ownerReferences") or [])


def status_for(resource, obj, state, thash, objects, key):
    gen = obj["metadata"]["generation"]
    name = obj["metadata"]["name"]
    if resource == "deployments":
        n = obj["spec"].get("replicas", 1)
        avail = n if state == "done" else 0
        st = {"observedGeneration": gen, "replicas": n, "updatedReplicas": n if state != "progressing" else 0,
              "readyReplicas": avail, "availableReplicas": avail,
              "unavailableReplicas": n - avail}
        if state == "progressing":
            st["replicas"] = n + 1
        conds = [{"type": "Available", "status": "True" if avail else "False",
                  "reason": "MinimumReplicasAvailable" if avail else "MinimumReplicasUnavailable",
                  "lastUpdateTime": now_iso(), "lastTransitionTime": now_iso()}]
        if state == "deadline":
            conds.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                          "message": 'ReplicaSet "%s-%s" has timed out progressing.' % (name, thash),
                          "lastUpdateTime": now_iso(), "lastTransitionTime": now_iso()})
        else:
            conds.append({"type": "Progressing", "status": "True",
                          "reason": "NewReplicaSetAvailable" if state == "done" else "ReplicaSetUpdated",
                          "message": 'ReplicaSet "%s-%s" is progressing.' % (name, thash),
                          "lastUpdateTime": now_iso(), "lastTransitionTime": now_iso()})
        st["conditions"] = conds
        return st
    if resource == "statefulsets":
        n = obj["spec"].get("replicas", 1)
        current = (obj.get("status") or {}).get("currentRevision") or "%s-%s" % (name, thash)
        if state == "done":
            current = "%s-%s" % (name, thash)
        return {"observedGeneration": gen, "replicas": n, "readyReplicas": n if state == "done" else 0,
                "currentReplicas": n if state == "done" else 0, "updatedReplicas": n if state != "progressing" else 0,
                "availableReplicas": n if state == "done" else 0,
                "currentRevision": current, "updateRevision": "%s-%s" % (name, thash), "collisionCount": 0}
    # daemonsets: one node
    return {"observedGeneration": gen, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
            "numberMisscheduled": 0, "numberReady": 1 if state == "done" else 0,
            "updatedNumberScheduled": 1 if state != "progressing" else 0,
            "numberAvailable": 1 if state == "done" else 0,
            "numberUnavailable": 0 if state == "done" else 1}


def parse_selector(text):
    """Equality-based label selectors: a=b, a==b, a!=b, a (exists), !a."""
    reqs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(("ne", k.strip(), v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append(("eq", k.strip(), v.lstrip("=").strip()))
        elif part.startswith("!"):
            reqs.append(("absent", part[1:], None))
        else:
            reqs.append(("exists", part, None))
    return reqs


def matches(reqs, labels):
    for op, k, v in reqs:
        if op == "eq" and labels.get(k) != v:
            return False
        if op == "ne" and labels.get(k) == v:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "absent" and k in labels:
            return False
    return True


# --- HTTP --------------------------------------------------------------------------------------

API_RESOURCES = [
    ("deployments", "Deployment", ["deploy"], True),
    ("statefulsets", "StatefulSet", ["sts"], True),
    ("daemonsets", "DaemonSet", ["ds"], True),
    ("replicasets", "ReplicaSet", ["rs"], True),
    ("controllerrevisions", "ControllerRevision", [], True),
]
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def discovery(path, port):
    if path == "/version":
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
             "verbs": ["get", "list"], "shortNames": ["ns"]},
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
             "verbs": ["get", "list"], "shortNames": ["po"]}]}
    if path == "/apis":
        gv = {"groupVersion": "apps/v1", "version": "v1"}
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [gv], "preferredVersion": gv}]}
    if path == "/apis/apps":
        gv = {"groupVersion": "apps/v1", "version": "v1"}
        return {"kind": "APIGroup", "apiVersion": "v1", "name": "apps", "versions": [gv], "preferredVersion": gv}
    if path == "/apis/apps/v1":
        res = []
        for name, kind, short, namespaced in API_RESOURCES:
            res.append({"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                        "verbs": VERBS, "shortNames": short})
            res.append({"name": name + "/status", "singularName": "", "namespaced": True, "kind": kind,
                        "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": res}
    return None


def status_error(code, reason, message, name=None, resource=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if name:
        body["details"] = {"name": name, "group": "apps", "kind": resource}
    return code, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-api/1"

    def log_message(self, fmt, *args):  # quiet; the record file has everything
        pass

    # -- plumbing

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _record(self, status, raw):
        rec_file = self.server.record_file
        if not rec_file:
            return
        url = urlsplit(self.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        rec = {"time": time.time(), "method": self.command, "path": url.path,
               "query": {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query).items()},
               "content_type": self.headers.get("Content-Type"), "user_agent": self.headers.get("User-Agent"),
               "body": body, "status": status}
        with self.server.record_lock, open(rec_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def _send(self, code, obj, raw=b""):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._record(code, raw)

    def do_GET(self):
        self.handle_any(b"")

    def do_DELETE(self):
        self.handle_any(self._body())

    def do_POST(self):
        self.handle_any(self._body())

    def do_PUT(self):
        self.handle_any(self._body())

    def do_PATCH(self):
        self.handle_any(self._body())

    # -- routing

    def handle_any(self, raw):
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        store = self.server.store
        try:
            if path.startswith("/fake/"):
                return self.fake(path, raw)
            if self.command == "GET":
                d = discovery(path, self.server.server_address[1])
                if d is not None:
                    return self._send(200, d)
            parts = path.strip("/").split("/")
            if self.command == "GET" and len(parts) == 4 and parts[:3] == ["api", "v1", "namespaces"]:
                return self.namespace(parts[3], raw)
            # /apis/apps/v1[/namespaces/NS]/RESOURCE[/NAME[/status]]
            if parts[:3] != ["apis", "apps", "v1"]:
                return self._send(*status_error(404, "NotFound", "the server could not find the requested resource"), raw)
            rest = parts[3:]
            ns = ""
            if len(rest) >= 2 and rest[0] == "namespaces":
                ns, rest = rest[1], rest[2:]
            if not rest or rest[0] not in KINDS:
                return self._send(*status_error(404, "NotFound", "the server could not find the requested resource"), raw)
            resource, name = rest[0], rest[1] if len(rest) > 1 else None
            with store.lock:
                store.tick()
                if name is None:
                    if self.command == "GET" and query.get("watch") in ("1", "true"):
                        return self.watch(resource, ns, query)
                    if self.command == "GET":
                        return self.list(resource, ns, query, raw)
                    if self.command == "POST":
                        obj = store.create(resource, ns, json.loads(raw))
                        return self._send(201, obj, raw)
                    return self._send(*status_error(405, "MethodNotAllowed", "method not allowed"), raw)
                key = (resource, ns, name)
                if key not in store.objects:
                    return self._send(*status_error(
                        404, "NotFound", '%s.apps "%s" not found' % (resource, name), name, resource), raw)
                if self.command == "GET":
                    return self._send(200, store.objects[key], raw)
                if self.command == "DELETE":
                    return self._send(200, store.delete(resource, ns, name), raw)
                if self.command == "PUT":
                    return self._send(200, store.update(resource, ns, name, json.loads(raw)), raw)
                if self.command == "PATCH":
                    return self.patch(resource, ns, name, query, raw)
                return self._send(*status_error(405, "MethodNotAllowed", "method not allowed"), raw)
        except Conflict as e:
            return self._send(*status_error(409, "AlreadyExists", str(e)), raw)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return self._send(*status_error(422, "Invalid", "invalid request: %s" % e), raw)

    def namespace(self, name, raw):
        store = self.server.store
        with store.lock:
            known = {"default", "kube-system"} | {ns for (_, ns, _) in store.objects}
        if name not in known:
            return self._send(404, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                    "message": 'namespaces "%s" not found' % name, "reason": "NotFound",
                                    "details": {"name": name, "kind": "namespaces"}, "code": 404}, raw)
        return self._send(200, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name))},
                                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, raw)

    def list(self, resource, ns, query, raw):
        store = self.server.store
        sel = parse_selector(query["labelSelector"]) if query.get("labelSelector") else None
        name = None
        fs = query.get("fieldSelector", "")
        if fs.startswith("metadata.name="):
            name = fs.split("=", 1)[1]
        items = store.list(resource, ns, sel, name)
        body = {"kind": KINDS[resource] + "List", "apiVersion": "apps/v1",
                "metadata": {"resourceVersion": str(store.rv)}, "items": items}
        return self._send(200, body, raw)

    def patch(self, resource, ns, name, query, raw):
        store = self.server.store
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        current = store.objects[(resource, ns, name)]
        patch = json.loads(raw)
        if ctype == "application/strategic-merge-patch+json":
            new = strategic_merge(current, patch)
        elif ctype == "application/merge-patch+json":
            new = merge_patch(current, patch)
        elif ctype == "application/json-patch+json":
            new = json_patch(current, patch)
        else:
            return self._send(*status_error(415, "UnsupportedMediaType", "unsupported patch type %s" % ctype), raw)
        if query.get("dryRun"):
            return self._send(200, new, raw)
        return self._send(200, store.update(resource, ns, name, new), raw)

    def watch(self, resource, ns, query):
        """Chunked stream of watch events (called with the store lock held)."""
        store = self.server.store
        since = int(query.get("resourceVersion") or store.rv)
        name = None
        fs = query.get("fieldSelector", "")
        if fs.startswith("metadata.name="):
            name = fs.split("=", 1)[1]
        sel = parse_selector(query["labelSelector"]) if query.get("labelSelector") else None
        deadline = time.time() + min(float(query.get("timeoutSeconds") or 300), 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._record(200, b"")
        pos = 0
        try:
            while time.time() < deadline:
                while pos < len(store.events):
                    rv, kind, res, ens, obj = store.events[pos]
                    pos += 1
                    if rv <= since or res != resource or (ns and ens != ns):
                        continue
                    if name and obj["metadata"]["name"] != name:
                        continue
                    if sel and not matches(sel, obj["metadata"].get("labels") or {}):
                        continue
                    chunk = (json.dumps({"type": kind, "object": obj}) + "\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                store.lock.wait(timeout=0.2)
                store.tick()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def fake(self, path, raw):
        store = self.server.store
        with store.lock:
            if path == "/fake/requests" and self.command == "GET":
                recs = []
                if self.server.record_file:
                    with self.server.record_lock, open(self.server.record_file, encoding="utf-8") as f:
                        recs = [json.loads(line) for line in f if line.strip()]
                return self._send(200, recs)
            if path == "/fake/config" and self.command == "POST":
                store.set_config(json.loads(raw or b"{}"))
                return self._send(200, {"fail_images": store.fail_images, "hang_images": store.hang_images,
                                        "ready_after": store.ready_after,
                                        "progress_deadline": store.progress_deadline}, raw)
            if path == "/fake/objects" and self.command == "POST":
                obj = json.loads(raw)
                resource = {v: k for k, v in WORKLOADS.items()}[obj["kind"]]
                return self._send(201, store.create(resource, obj.get("metadata", {}).get("namespace"), obj), raw)
            if path == "/fake/objects" and self.command == "GET":
                return self._send(200, [o for _, o in sorted(store.objects.items())])
        return self._send(*status_error(404, "NotFound", "no such fake endpoint"), raw)


def serve(opts):
    store = Store(opts)
    for path in opts.object or []:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        resource = {v: k for k, v in WORKLOADS.items()}[obj["kind"]]
        with store.lock:
            store.create(resource, obj.get("metadata", {}).get("namespace"), obj)
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    server.store = store
    server.record_file = opts.record
    server.record_lock = threading.Lock()
    print("fake-kube-api listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


def kubeconfig(opts):
    print("""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:%d
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: %s
current-context: fake
users:
- name: fake
  user: {}
preferences: {}""" % (opts.port, opts.namespace))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--record", help="append every request as a JSON line to this file")
    s.add_argument("--fail-image", action="append", help="images containing this fail (repeatable)")
    s.add_argument("--hang-image", action="append", help="images containing this never become ready")
    s.add_argument("--ready-after", type=float, default=1.0, help="seconds until a rollout is done")
    s.add_argument("--progress-deadline", type=float, default=3.0,
                   help="seconds until a failing Deployment reports ProgressDeadlineExceeded")
    s.add_argument("--object", action="append", help="create this object (JSON file) at start")
    k = sub.add_parser("kubeconfig", help="print a kubeconfig for the server")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--namespace", default="default")
    opts = p.parse_args(argv)
    if opts.cmd == "serve":
        serve(opts)
    else:
        kubeconfig(opts)


if __name__ == "__main__":
    main(sys.argv[1:])
