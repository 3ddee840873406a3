#!/usr/bin/python3
"""A minimal Kubernetes CRI client for the tests: talks to containerd's CRI
plugin over its gRPC socket the way kubelet does (runtime.v1.RuntimeService).

The few messages it needs are declared here at run time from the field
numbers of the public CRI API (k8s.io/cri-api pkg/apis/runtime/v1/api.proto)
with descriptor_pb2 and message_factory: no generated code, no .proto
compiled (Debian's grpc_tools rejects the upstream file's debug_redact).
Needs Debian's python3-grpcio and python3-protobuf: run with /usr/bin/python3.

  cri_client.py --socket S version
  cri_client.py --socket S run-pod --name N --uid U --namespace NS --handler H
                [--annotation K=V]... --log-dir D --config-out FILE   -> pod id
  cri_client.py --socket S create --pod ID --pod-config FILE --name N
                --image IMG [--annotation K=V]... -- CMD...             -> container id
  cri_client.py --socket S start ID
  cri_client.py --socket S exec ID [--timeout N] -- CMD...
                (stdout and stderr passed through, exit status = the command's)
  cri_client.py --socket S stop-pod ID | remove-pod ID
"""
import argparse
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, BOOL = F.TYPE_STRING, F.TYPE_BYTES, F.TYPE_BOOL
INT32, INT64, UINT32 = F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32
MESSAGE, ENUM = F.TYPE_MESSAGE, F.TYPE_ENUM
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
PKG = "runtime.v1"

# message name -> [(field, number, type, label, type name or None)], and the
# map<string, string> fields as (field, number): CRI API field numbers.
MESSAGES = {
    "VersionRequest": [("version", 1, STRING, OPT, None)],
    "VersionResponse": [
        ("version", 1, STRING, OPT, None),
        ("runtime_name", 2, STRING, OPT, None),
        ("runtime_version", 3, STRING, OPT, None),
        ("runtime_api_version", 4, STRING, OPT, None),
    ],
    "PodSandboxMetadata": [
        ("name", 1, STRING, OPT, None),
        ("uid", 2, STRING, OPT, None),
        ("namespace", 3, STRING, OPT, None),
        ("attempt", 4, UINT32, OPT, None),
    ],
    "NamespaceOption": [
        ("network", 1, ENUM, OPT, "NamespaceMode"),
        ("pid", 2, ENUM, OPT, "NamespaceMode"),
        ("ipc", 3, ENUM, OPT, "NamespaceMode"),
    ],
    "LinuxSandboxSecurityContext": [("namespace_options", 1, MESSAGE, OPT, "NamespaceOption")],
    "LinuxPodSandboxConfig": [
        ("cgroup_parent", 1, STRING, OPT, None),
        ("security_context", 2, MESSAGE, OPT, "LinuxSandboxSecurityContext"),
    ],
    "PodSandboxConfig": [
        ("metadata", 1, MESSAGE, OPT, "PodSandboxMetadata"),
        ("hostname", 2, STRING, OPT, None),
        ("log_directory", 3, STRING, OPT, None),
        ("linux", 8, MESSAGE, OPT, "LinuxPodSandboxConfig"),
    ],
    "RunPodSandboxRequest": [
        ("config", 1, MESSAGE, OPT, "PodSandboxConfig"),
        ("runtime_handler", 2, STRING, OPT, None),
    ],
    "RunPodSandboxResponse": [("pod_sandbox_id", 1, STRING, OPT, None)],
    "StopPodSandboxRequest": [("pod_sandbox_id", 1, STRING, OPT, None)],
    "StopPodSandboxResponse": [],
    "RemovePodSandboxRequest": [("pod_sandbox_id", 1, STRING, OPT, None)],
    "RemovePodSandboxResponse": [],
    "ContainerMetadata": [("name", 1, STRING, OPT, None), ("attempt", 2, UINT32, OPT, None)],
    "ImageSpec": [("image", 1, STRING, OPT, None)],
    "LinuxContainerSecurityContext": [("namespace_options", 3, MESSAGE, OPT, "NamespaceOption")],
    "LinuxContainerConfig": [("security_context", 2, MESSAGE, OPT, "LinuxContainerSecurityContext")],
    "ContainerConfig": [
        ("metadata", 1, MESSAGE, OPT, "ContainerMetadata"),
        ("image", 2, MESSAGE, OPT, "ImageSpec"),
        ("command", 3, STRING, REP, None),
        ("args", 4, STRING, REP, None),
        ("working_dir", 5, STRING, OPT, None),
        ("log_path", 11, STRING, OPT, None),
        ("linux", 15, MESSAGE, OPT, "LinuxContainerConfig"),
    ],
    "CreateContainerRequest": [
        ("pod_sandbox_id", 1, STRING, OPT, None),
        ("config", 2, MESSAGE, OPT, "ContainerConfig"),
        ("sandbox_config", 3, MESSAGE, OPT, "PodSandboxConfig"),
    ],
    "CreateContainerResponse": [("container_id", 1, STRING, OPT, None)],
    "StartContainerRequest": [("container_id", 1, STRING, OPT, None)],
    "StartContainerResponse": [],
    "ExecSyncRequest": [
        ("container_id", 1, STRING, OPT, None),
        ("cmd", 2, STRING, REP, None),
        ("timeout", 3, INT64, OPT, None),
    ],
    "ExecSyncResponse": [
        ("stdout", 1, BYTES, OPT, None),
        ("stderr", 2, BYTES, OPT, None),
        ("exit_code", 3, INT32, OPT, None),
    ],
}
MAPS = {
    "PodSandboxConfig": [("labels", 6), ("annotations", 7)],
    "ContainerConfig": [("labels", 9), ("annotations", 10)],
}
# enum NamespaceMode { POD = 0; CONTAINER = 1; NODE = 2; TARGET = 3; }
NAMESPACE_MODE = [("POD", 0), ("CONTAINER", 1), ("NODE", 2), ("TARGET", 3)]


def _add_field(msg, name, number, ftype, label, type_name=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name if type_name.startswith(".") else f".{PKG}.{type_name}"


def _build():
    fdp = descriptor_pb2.FileDescriptorProto(name="corral_cri_subset.proto", package=PKG, syntax="proto3")
    enum = fdp.enum_type.add(name="NamespaceMode")
    for name, number in NAMESPACE_MODE:
        enum.value.add(name=name, number=number)
    for mname, fields in MESSAGES.items():
        msg = fdp.message_type.add(name=mname)
        for name, number, ftype, label, tname in fields:
            _add_field(msg, name, number, ftype, label, tname)
        for name, number in MAPS.get(mname, []):
            entry = "".join(p.capitalize() for p in name.split("_")) + "Entry"
            nested = msg.nested_type.add(name=entry)
            nested.options.map_entry = True
            _add_field(nested, "key", 1, STRING, OPT)
            _add_field(nested, "value", 2, STRING, OPT)
            _add_field(msg, name, number, MESSAGE, REP, f".{PKG}.{mname}.{entry}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    factory = message_factory.MessageFactory(pool)
    classes = {}
    for mname in MESSAGES:
        desc = pool.FindMessageTypeByName(f"{PKG}.{mname}")
        get = getattr(message_factory, "GetMessageClass", None)
        classes[mname] = get(desc) if get else factory.GetPrototype(desc)
    return classes


M = _build()


def call(channel, method, request, timeout):
    rpc = channel.unary_unary(
        f"/{PKG}.RuntimeService/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=M[f"{method}Response"].FromString,
    )
    return rpc(request, timeout=timeout)


def annotations(pairs):
    out = {}
    for kv in pairs or []:
        k, sep, v = kv.partition("=")
        if not sep:
            sys.exit(f"cri_client: annotation `{kv}` is not KEY=VALUE")
        out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description="minimal CRI client (runtime.v1)")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--rpc-timeout", type=float, default=60)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    p = sub.add_parser("run-pod")
    p.add_argument("--name", required=True)
    p.add_argument("--uid", required=True)
    p.add_argument("--namespace", default="default")
    p.add_argument("--handler", default="")
    p.add_argument("--annotation", action="append")
    p.add_argument("--log-dir", required=True)
    p.add_argument("--config-out", required=True)
    p = sub.add_parser("create")
    p.add_argument("--pod", required=True)
    p.add_argument("--pod-config", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--annotation", action="append")
    p.add_argument("argv", nargs="+")
    p = sub.add_parser("start")
    p.add_argument("id")
    p = sub.add_parser("exec")
    p.add_argument("id")
    p.add_argument("--timeout", type=int, default=30)
    p.add_argument("argv", nargs="+")
    for name in ("stop-pod", "remove-pod"):
        p = sub.add_parser(name)
        p.add_argument("id")
    a = ap.parse_args()

    with grpc.insecure_channel(f"unix://{a.socket}") as ch:
        t = a.rpc_timeout
        if a.cmd == "version":
            r = call(ch, "Version", M["VersionRequest"](version="v1"), t)
            print(f"{r.runtime_name} {r.runtime_version} {r.runtime_api_version}")
        elif a.cmd == "run-pod":
            # What kubelet sends for a pod on the pod network: network and
            # IPC shared in the pod, a PID namespace per container.
            ns = M["NamespaceOption"](network=0, pid=1, ipc=0)
            cfg = M["PodSandboxConfig"](
                metadata=M["PodSandboxMetadata"](name=a.name, uid=a.uid, namespace=a.namespace, attempt=0),
                hostname=a.name,
                log_directory=a.log_dir,
                linux=M["LinuxPodSandboxConfig"](
                    security_context=M["LinuxSandboxSecurityContext"](namespace_options=ns)
                ),
            )
            cfg.labels["io.kubernetes.pod.name"] = a.name
            cfg.labels["io.kubernetes.pod.namespace"] = a.namespace
            cfg.labels["io.kubernetes.pod.uid"] = a.uid
            cfg.annotations.update(annotations(a.annotation))
            with open(a.config_out, "wb") as f:
                f.write(cfg.SerializeToString())
            r = call(ch, "RunPodSandbox", M["RunPodSandboxRequest"](config=cfg, runtime_handler=a.handler), t)
            print(r.pod_sandbox_id)
        elif a.cmd == "create":
            with open(a.pod_config, "rb") as f:
                sandbox = M["PodSandboxConfig"].FromString(f.read())
            ns = M["NamespaceOption"](network=0, pid=1, ipc=0)
            cfg = M["ContainerConfig"](
                metadata=M["ContainerMetadata"](name=a.name, attempt=0),
                image=M["ImageSpec"](image=a.image),
                command=a.argv,
                log_path=f"{a.name}/0.log",
                linux=M["LinuxContainerConfig"](
                    security_context=M["LinuxContainerSecurityContext"](namespace_options=ns)
                ),
            )
            cfg.labels["io.kubernetes.container.name"] = a.name
            cfg.annotations.update(annotations(a.annotation))
            req = M["CreateContainerRequest"](pod_sandbox_id=a.pod, config=cfg, sandbox_config=sandbox)
            print(call(ch, "CreateContainer", req, t).container_id)
        elif a.cmd == "start":
            call(ch, "StartContainer", M["StartContainerRequest"](container_id=a.id), t)
        elif a.cmd == "exec":
            req = M["ExecSyncRequest"](container_id=a.id, cmd=a.argv, timeout=a.timeout)
            r = call(ch, "ExecSync", req, a.timeout + t)
            sys.stdout.buffer.write(r.stdout)
            sys.stdout.flush()
            sys.stderr.buffer.write(r.stderr)
            sys.stderr.flush()
            return r.exit_code
        elif a.cmd == "stop-pod":
            call(ch, "StopPodSandbox", M["StopPodSandboxRequest"](pod_sandbox_id=a.id), t)
        elif a.cmd == "remove-pod":
            call(ch, "RemovePodSandbox", M["RemovePodSandboxRequest"](pod_sandbox_id=a.id), t)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as e:
        print(f"cri_client: {e.code().name}: {e.details()}", file=sys.stderr)
        sys.exit(3)
