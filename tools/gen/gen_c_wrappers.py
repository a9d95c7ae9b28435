#!/usr/bin/env python3
"""
gen_c_wrappers.py — generates the interposer's C wrappers from tools/gen/spi_schema.py.

  tools/gen/gen_c_wrappers.py            # writes Sources/Interposer/CSanTrace/generated/
  tools/gen/gen_c_wrappers.py --check    # exits 1 if the committed output differs

Inputs: the schema (which fields each function records, in which order, with which type) and the
ABI headers Sources/CSanABI/include/san_{spi,ext}.h (the C signature of every function, parsed
from their typedefs). The only hand-kept knowledge here is BINDINGS: which C argument expression
feeds a schema field whose name is not simply a parameter name.

Outputs (never edit them; CI checks that regenerating changes nothing):
  csan_generated.h  declarations shared with the hand-written C (startup.c, hooks.c)
  csan_wrappers.c   one record function per (function, phase), one wrapper per proc slot,
                    extension and upcall, and the table-wrapping functions
  csan_schema.c     the schema as C tables, read by the Swift drain to decode raw records
"""
import importlib.util
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Sources", "Interposer", "CSanTrace", "generated")


def load_schema():
    spec = importlib.util.spec_from_file_location("spi_schema", os.path.join(ROOT, "tools", "gen", "spi_schema.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_typedefs():
    """typedef RET(WSPAPI *NAME)(PARAMS); → {NAME: (RET, [(type, name)])}"""
    text = ""
    for h in ("san_spi.h", "san_ext.h"):
        with open(os.path.join(ROOT, "Sources", "CSanABI", "include", h)) as f:
            text += f.read()
    out = {}
    for m in re.finditer(r"typedef\s+(\w+)\s*\(\s*(?:WSPAPI|CALLBACK)\s*\*\s*(\w+)\s*\)\s*\((.*?)\);", text, re.S):
        ret, name, params = m.group(1), m.group(2), " ".join(m.group(3).split())
        plist = []
        for p in params.split(","):
            p = p.strip()
            pm = re.match(r"(.*?)(\w+)$", p)
            plist.append((pm.group(1).strip(), pm.group(2)))
        out[name] = (ret, plist)
    return out


def D(p):
    """An out-parameter read after the call, NULL-safe."""
    return f"({p} ? *{p} : 0)"


# (function, phase, field) → tuple of C expressions. phase: enter | leave | fields (upcalls).
# Anything not listed binds to the parameter of the same name ("ret" to the result, "err" to
# *lpErrno when the call failed).
BINDINGS = {
    ("WSPAccept", "enter", "hasCondition"): ("lpfnCondition != NULL",),
    ("WSPAccept", "leave", "peer"): ("ret != INVALID_SOCKET ? addr : NULL", D("addrlen")),
    ("WSPAddressToString", "enter", "addr"): ("lpsaAddress", "dwAddressLength"),
    ("WSPAsyncSelect", "enter", "events"): ("lEvent",),
    ("WSPBind", "enter", "addr"): ("name", "namelen"),
    ("WSPConnect", "enter", "addr"): ("name", "namelen"),
    ("WSPDuplicateSocket", "enter", "pid"): ("dwProcessId",),
    ("WSPEnumNetworkEvents", "enter", "event"): ("hEventObject",),
    ("WSPEnumNetworkEvents", "leave", "events"): ("ret == 0 && lpNetworkEvents ? lpNetworkEvents->lNetworkEvents : 0",),
    ("WSPEnumNetworkEvents", "leave", "connectError"):
        ("ret == 0 && lpNetworkEvents ? lpNetworkEvents->iErrorCode[FD_CONNECT_BIT] : 0",),
    ("WSPEnumNetworkEvents", "leave", "acceptError"):
        ("ret == 0 && lpNetworkEvents ? lpNetworkEvents->iErrorCode[FD_ACCEPT_BIT] : 0",),
    ("WSPEventSelect", "enter", "event"): ("hEventObject",),
    ("WSPEventSelect", "enter", "events"): ("lNetworkEvents",),
    ("WSPGetOverlappedResult", "enter", "ov"): ("lpOverlapped",),
    ("WSPGetOverlappedResult", "enter", "wait"): ("fWait",),
    ("WSPGetOverlappedResult", "leave", "bytes"): (D("lpcbTransfer"),),
    ("WSPGetOverlappedResult", "leave", "flags"): (D("lpdwFlags"),),
    ("WSPGetPeerName", "leave", "addr"): ("ret == 0 ? name : NULL", D("namelen")),
    ("WSPGetSockName", "leave", "addr"): ("ret == 0 ? name : NULL", D("namelen")),
    ("WSPGetSockOpt", "enter", "opt"): ("optname",),
    ("WSPGetSockOpt", "enter", "optlen"): (D("optlen"),),
    ("WSPGetSockOpt", "leave", "value"): ("ret == 0 ? optval : NULL", D("optlen")),
    ("WSPIoctl", "enter", "code"): ("dwIoControlCode",),
    ("WSPIoctl", "enter", "input"): ("lpvInBuffer", "cbInBuffer"),
    ("WSPIoctl", "enter", "outlen"): ("cbOutBuffer",),
    ("WSPIoctl", "enter", "ov"): ("lpOverlapped",),
    ("WSPIoctl", "enter", "mode"): ("lpOverlapped",),
    ("WSPIoctl", "leave", "returned"): (D("lpcbBytesReturned"),),
    # The answer to an extension look-up is a pointer of this process: the LOOKUP event records it.
    ("WSPIoctl", "leave", "output"): (
        "ret == 0 && dwIoControlCode != SIO_GET_EXTENSION_FUNCTION_POINTER ? lpvOutBuffer : NULL",
        "lpcbBytesReturned && *lpcbBytesReturned < cbOutBuffer ? *lpcbBytesReturned : cbOutBuffer"),
    ("WSPJoinLeaf", "enter", "addr"): ("name", "namelen"),
    ("WSPRecv", "enter", "buffers"): ("lpBuffers", "dwBufferCount"),
    ("WSPRecv", "enter", "flags"): (D("lpFlags"),),
    ("WSPRecv", "enter", "ov"): ("lpOverlapped",),
    ("WSPRecv", "enter", "mode"): ("lpOverlapped",),
    ("WSPRecv", "leave", "bytes"): (D("lpNumberOfBytesRecvd"),),
    ("WSPRecv", "leave", "flags"): (D("lpFlags"),),
    # A synchronous receive's bytes are hashed here; an overlapped one's at its completion.
    ("WSPRecv", "leave", "payload"): ("wsabuf", "ret == 0 && !lpOverlapped ? lpBuffers : NULL", "dwBufferCount",
                                      D("lpNumberOfBytesRecvd")),
    ("WSPRecvFrom", "enter", "buffers"): ("lpBuffers", "dwBufferCount"),
    ("WSPRecvFrom", "enter", "ov"): ("lpOverlapped",),
    ("WSPRecvFrom", "enter", "mode"): ("lpOverlapped",),
    ("WSPRecvFrom", "leave", "bytes"): (D("lpNumberOfBytesRecvd"),),
    ("WSPSend", "enter", "buffers"): ("lpBuffers", "dwBufferCount"),
    ("WSPSend", "enter", "flags"): ("dwFlags",),
    ("WSPSend", "enter", "ov"): ("lpOverlapped",),
    ("WSPSend", "enter", "mode"): ("lpOverlapped",),
    ("WSPSend", "enter", "payload"): ("wsabuf", "lpBuffers", "dwBufferCount", "UINT64_MAX"),
    ("WSPSend", "leave", "bytes"): (D("lpNumberOfBytesSent"),),
    ("WSPSendTo", "enter", "buffers"): ("lpBuffers", "dwBufferCount"),
    ("WSPSendTo", "enter", "to"): ("lpTo", "iTolen"),
    ("WSPSendTo", "enter", "ov"): ("lpOverlapped",),
    ("WSPSendTo", "enter", "mode"): ("lpOverlapped",),
    ("WSPSendTo", "leave", "bytes"): (D("lpNumberOfBytesSent"),),
    ("WSPSetSockOpt", "enter", "opt"): ("optname",),
    ("WSPSetSockOpt", "enter", "value"): ("optval", "optlen"),
    ("WSPSocket", "enter", "flags"): ("dwFlags",),
    ("WSPStringToAddress", "enter", "af"): ("AddressFamily",),
    ("WSPStartupEx", "enter", "version"): ("wVersionRequested",),
    ("WSPStartupEx", "leave", "highVersion"): ("ret == 0 && lpWSPData ? lpWSPData->wHighVersion : 0",),
    ("WSPStartupEx", "leave", "description"): ("ret == 0 && lpWSPData ? (const void *)lpWSPData->szDescription : NULL",
                                               "csan_wide_bytes(lpWSPData)"),
    ("WSPRegisterMemory", "enter", "buffer"): ("lpBuffer",),
    ("WSPRegisterMemory", "enter", "length"): ("dwBufferLength",),
    ("WSPRegisterMemory", "enter", "flags"): ("dwFlags",),
    ("WSPDeregisterMemory", "enter", "handle"): ("Handle",),
    ("WSPRegisterRdmaMemory", "enter", "buffer"): ("lpBuffer",),
    ("WSPRegisterRdmaMemory", "enter", "length"): ("dwBufferLength",),
    ("WSPRegisterRdmaMemory", "enter", "flags"): ("dwFlags",),
    ("WSPRegisterRdmaMemory", "enter", "descriptorLength"): (D("lpdwDescriptorLength"),),
    ("WSPRegisterRdmaMemory", "leave", "descriptorLength"): (D("lpdwDescriptorLength"),),
    ("WSPRegisterRdmaMemory", "leave", "descriptor"): ("ret == 0 ? lpRdmaBufferDescriptor : NULL",
                                                      D("lpdwDescriptorLength")),
    ("WSPRegisterRdmaMemory", "leave", "descriptorBytes"): ("ret == 0 ? lpRdmaBufferDescriptor : NULL",
                                                           D("lpdwDescriptorLength")),
    ("WSPDeregisterRdmaMemory", "enter", "descriptor"): ("lpRdmaBufferDescriptor", "dwDescriptorLength"),
    ("WSPDeregisterRdmaMemory", "enter", "descriptorLength"): ("dwDescriptorLength",),
    ("WSPMemoryRegistrationCacheCallback", "enter", "address"): ("lpvAddress",),
    ("WSPMemoryRegistrationCacheCallback", "enter", "size"): ("Size",),
    ("WPUCloseEvent", "fields", "event"): ("hEvent",),
    ("WPUCreateSocketHandle", "fields", "catalog"): ("dwCatalogEntryId",),
    ("WPUCreateSocketHandle", "fields", "context"): ("dwContext",),
    ("WPUQuerySocketHandleContext", "fields", "context"): (D("lpContext"),),
    ("WPUResetEvent", "fields", "event"): ("hEvent",),
    ("WPUSetEvent", "fields", "event"): ("hEvent",),
    ("WPUCompleteOverlappedRequest", "fields", "ov"): ("lpOverlapped",),
    ("WPUCompleteOverlappedRequest", "fields", "error"): ("dwError",),
    ("WPUCompleteOverlappedRequest", "fields", "bytes"): ("cbTransferred",),
}
for _fn, _dir in (("WSPRdmaWrite", "Written"), ("WSPRdmaRead", "Read")):
    BINDINGS.update({
        (_fn, "enter", "buffers"): ("lpBuffers", "dwBufferCount"),
        (_fn, "enter", "target"): ("lpTargetBufferDescriptor", "dwTargetDescriptorLength"),
        (_fn, "enter", "targetLength"): ("dwTargetDescriptorLength",),
        (_fn, "enter", "offset"): ("dwTargetBufferOffset",),
        (_fn, "enter", "flags"): ("dwFlags",),
        (_fn, "enter", "ov"): ("lpOverlapped",),
        (_fn, "enter", "mode"): ("lpOverlapped",),
        (_fn, "leave", "bytes"): (D(f"lpdwNumberOfBytes{_dir}"),),
    })
BINDINGS[("WSPRdmaWrite", "enter", "payload")] = ("wsabufex", "lpBuffers", "dwBufferCount", "UINT64_MAX")

# Hand-written hooks (hooks.c) around the real call.
PRE_HOOKS = {
    "WSPRecv": "csan_hook_recv_pre(lpOverlapped, lpBuffers, dwBufferCount);",
    "WSPRecvFrom": "csan_hook_recv_pre(lpOverlapped, lpBuffers, dwBufferCount);",
    "WSPRdmaRead": "csan_hook_rdma_read_pre(lpOverlapped, lpBuffers, dwBufferCount);",
    "WPUCompleteOverlappedRequest": "csan_hook_complete_pre(t, lpOverlapped, dwError, cbTransferred);",
}
POST_HOOKS = {
    "WSPRecv": "csan_hook_op_post(ret, lpOverlapped, lpErrno);",
    "WSPRecvFrom": "csan_hook_op_post(ret, lpOverlapped, lpErrno);",
    "WSPRdmaRead": "csan_hook_op_post(ret, lpOverlapped, lpErrno);",
    "WSPIoctl": "csan_hook_ioctl_post(t, tsc, ret, dwIoControlCode, lpvInBuffer, cbInBuffer, lpvOutBuffer, cbOutBuffer, "
                "lpErrno);",
    "WSPGetOverlappedResult": "csan_hook_gor_post(t, tsc, ret, lpOverlapped, lpcbTransfer, lpdwFlags, lpErrno);",
    "WSPCleanup": "csan_hook_cleanup_post(ret);",
}

FAILED = {"int": "ret == SOCKET_ERROR", "INT": "ret == SOCKET_ERROR", "SOCKET": "ret == INVALID_SOCKET",
          "BOOL": "ret == FALSE", "HANDLE": "ret == NULL", "WSAEVENT": "ret == NULL"}
SCALARS = {"i32", "u32", "u64", "bool", "wsaError", "flags", "socket", "switchSocket", "memHandle", "overlapped",
           "event", "address", "completionVia"}
BLOB_CAPS = {"sockaddr": "CSAN_CAP_SOCKADDR", "bytes": "CSAN_CAP_BYTES", "rdmaDescriptor": "CSAN_CAP_BYTES",
             "descriptorBytes": "CSAN_CAP_BYTES"}


def typedef_name(fn):
    return ("LPFN_" if fn["group"] == "ext" else "LP") + fn["name"].upper()


def bind(fn, phase, field, params, ret_type):
    key = (fn["name"], phase, field["name"])
    if key in BINDINGS:
        return BINDINGS[key]
    names = [n for _, n in params]
    if field["name"] == "ret":
        return ("ret",)
    if field["name"] == "err":
        return (f"({FAILED[ret_type]}) && lpErrno ? *lpErrno : 0",)
    if field["name"] in names:
        return (field["name"],)
    raise SystemExit(f"gen_c_wrappers: no C binding for {key}")


def size_and_put(ftype, args):
    if ftype in SCALARS:
        expr = f"({args[0]}) != 0" if ftype == "bool" else args[0]
        return "8", f"csan_put_u64(&w, (uint64_t)(uintptr_t)({expr}));"
    if ftype == "completionMode":
        return "8", f"csan_put_u64(&w, csan_mode_of({args[0]}));"
    if ftype == "bufferList":
        return f"csan_sz_wsabuf({args[0]}, {args[1]})", f"csan_put_wsabuf(&w, {args[0]}, {args[1]});"
    if ftype == "bufferListEx":
        return f"csan_sz_wsabufex({args[0]}, {args[1]})", f"csan_put_wsabufex(&w, {args[0]}, {args[1]});"
    if ftype in BLOB_CAPS:
        cap = BLOB_CAPS[ftype]
        return (f"csan_sz_blob({args[0]}, (int64_t)({args[1]}), {cap})",
                f"csan_put_blob(&w, {args[0]}, (int64_t)({args[1]}), {cap});")
    if ftype == "payload":
        kind, ptr, count, limit = args
        return (f"csan_sz_payload_{kind}(pm, {ptr}, {count}, {limit})",
                f"csan_put_payload_{kind}(pm, &w, {ptr}, {count}, {limit});")
    raise SystemExit(f"gen_c_wrappers: field type {ftype} has no raw encoding")


def has_payload(fn):
    """True when a record of `fn` carries a payload field (the wrapper is then specialised per policy)."""
    return any(f["type"] == "payload" for phase in ("enter", "leave", "fields") for f in fn.get(phase, []))


def record_function(fn, phase, kind, fields, params, ret_type):
    """static void csan_rec_NAME_PHASE(csan_tls *t[, int pm][, uint64_t tsc, RET ret], PARAMS...)

    An ENTER takes its timestamp at commit (the last thing before the real call); a LEAVE or an
    upcall's record gets the one the wrapper read as the call returned. `pm`, the payload policy,
    is a compile-time constant where the wrapper specialises (has_payload)."""
    payload = has_payload(fn)
    args = (["csan_tls *t"] + (["const int pm"] if payload else []) +
            (["uint64_t tsc", f"{ret_type} ret"] if phase != "enter" else []) + [f"{t} {n}" for t, n in params])
    sizes, puts = [], []
    for f in fields:
        s, p = size_and_put(f["type"], bind(fn, phase, f, params, ret_type))
        sizes.append(s)
        puts.append(p)
    if fn["group"] == "startup":
        visibility = ""
    elif payload:
        visibility = "static inline __attribute__((always_inline)) "
    else:
        visibility = "static "
    lines = [f"{visibility}void csan_rec_{fn['name']}_{phase}({', '.join(args)}) {{"]
    for _, n in params:
        lines.append(f"    (void){n};")
    if phase != "enter":
        lines.append("    (void)ret;")
    lines.append(f"    uint32_t size = CSAN_HDR" + "".join(f" + {s}" for s in sizes) + ";")
    lines.append("    csan_wr w;")
    lines.append(f"    if (!csan_rec_begin(t, &w, {kind}, {fn['id']}, size, {'0' if phase == 'enter' else 'tsc'})) return;")
    lines += [f"    {p}" for p in puts]
    lines.append("    csan_rec_commit_now(t, &w);" if phase == "enter" else "    csan_rec_commit(t, &w);")
    lines.append("}")
    return "\n".join(lines)


def wrapper_function(fn, params, ret_type, real):
    name = fn["name"]
    plist = ", ".join(f"{t} {n}" for t, n in params)
    names = ", ".join(n for _, n in params)
    call = f"{real}({names})"
    payload = has_payload(fn)
    pm = "pm, " if payload else ""
    body = []
    if fn["group"] == "upcall":
        if name in PRE_HOOKS:
            body.append(f"    {PRE_HOOKS[name]}")
        body += [f"    {ret_type} ret = {call};",
                 f"    csan_rec_{name}_fields(t, {pm}csan_rdtsc(), ret, {names});",
                 "    return ret;"]
    else:
        body.append("    t->depth++;")
        body.append(f"    csan_rec_{name}_enter(t{', ' + pm.rstrip(', ') if payload else ''}{', ' + names if names else ''});")
        if name in PRE_HOOKS:
            body.append(f"    {PRE_HOOKS[name]}")
        body.append(f"    {ret_type} ret = {call};")
        body.append("    uint64_t tsc = csan_rdtsc();")
        if name in POST_HOOKS:
            body.append(f"    {POST_HOOKS[name]}")
        body.append(f"    csan_rec_{name}_leave(t, {pm}tsc, ret{', ' + names if names else ''});")
        body += ["    t->depth--;", "    return ret;"]
    head = [f"static {ret_type} WSPAPI csan_w_{name}({plist}) {{", "    csan_tls *t = csan_tls_get();",
            f"    if (!csan_recording(t)) return {call};"]
    if not payload:
        return "\n".join(head + body + ["}"])
    # The body once per payload policy: `none` (the common case) compiles without payload code.
    args = ", ".join(["csan_tls *t", "const int pm"] + [f"{t} {n}" for t, n in params])
    lines = [f"static inline __attribute__((always_inline)) {ret_type} csan_b_{name}({args}) {{"] + body + ["}"]
    lines += head
    lines.append(f"    if (__builtin_expect(csan_payload_mode == CSAN_PAYLOAD_NONE, 1)) "
                 f"return csan_b_{name}(t, CSAN_PAYLOAD_NONE{', ' + names if names else ''});")
    lines.append(f"    return csan_b_{name}(t, csan_payload_mode{', ' + names if names else ''});")
    lines.append("}")
    return "\n".join(lines)


HEADER_NOTE = ("/* GENERATED by tools/gen/gen_c_wrappers.py from tools/gen/spi_schema.py and the CSanABI headers.\n"
               " * Do not edit: change the schema or the generator and run it again. */\n")


def generate():
    schema = load_schema()
    sigs = parse_typedefs()
    kinds = {"enter": "CSAN_KIND_ENTER", "leave": "CSAN_KIND_LEAVE", "fields": "CSAN_KIND_UPCALL"}
    fns = [f for f in schema.FUNCTIONS if not f.get("retired")]
    body = [HEADER_NOTE, '#include "../trace_internal.h"', '#include "../hooks.h"', '#include "csan_generated.h"', ""]
    body.append("/* ---- Record functions: one per (function, phase), fields in schema order ---- */")
    for fn in fns:
        ret_type, params = sigs[typedef_name(fn)]
        if fn["group"] == "upcall":
            body.append(record_function(fn, "fields", kinds["fields"], fn["fields"], params, ret_type))
        else:
            body.append(record_function(fn, "enter", kinds["enter"], fn["enter"], params, ret_type))
            body.append(record_function(fn, "leave", kinds["leave"], fn["leave"], params, ret_type))
        body.append("")
    body.append("/* ---- Wrappers ---- */")
    ext_names = []
    for fn in fns:
        ret_type, params = sigs[typedef_name(fn)]
        if fn["group"] == "proc":
            real = f"csan_real_procs.lp{fn['name']}"
        elif fn["group"] == "ext":
            real = f"(({typedef_name(fn)})csan_real_ext[{fn['id'] - 33}])"
            ext_names.append(fn["name"])
        elif fn["group"] == "upcall":
            real = f"csan_real_upcalls.lp{fn['name']}"
        else:
            continue
        body.append(wrapper_function(fn, params, ret_type, real))
        body.append("")
    procs = [f for f in fns if f["group"] == "proc"]
    ups = [f for f in fns if f["group"] == "upcall"]
    body.append("void csan_wrap_proc_table(LPWSPPROC_TABLE t) {")
    for f in procs:
        m = "lp" + f["name"]
        body.append(f"    csan_real_procs.{m} = t->{m};")
        body.append(f"    if (t->{m}) t->{m} = csan_w_{f['name']};")
    body.append("}")
    body.append("")
    body.append("void csan_wrap_upcall_table(const WSPUPCALLTABLEEX *in, WSPUPCALLTABLEEX *out) {")
    body.append("    csan_real_upcalls = *in;")
    body.append("    *out = *in;")
    for f in ups:
        m = "lp" + f["name"]
        body.append(f"    if (in->{m}) out->{m} = csan_w_{f['name']};")
    body.append("}")
    body.append("")
    body.append("void *csan_extension_wrapper(int index) {")
    body.append("    switch (index) {")
    for f in fns:
        if f["group"] == "ext":
            body.append(f"    case {f['id'] - 33}: return (void *)csan_w_{f['name']};")
    body.append("    default: return NULL;")
    body.append("    }")
    body.append("}")
    wrappers = "\n".join(body) + "\n"

    st = [f for f in fns if f["group"] == "startup"][0]
    ret_type, params = sigs[typedef_name(st)]
    plist = ", ".join(f"{t} {n}" for t, n in params)
    header = [HEADER_NOTE, "#ifndef CSAN_GENERATED_H", "#define CSAN_GENERATED_H", '#include "../trace_internal.h"', "",
              "/* Saves the real slots in csan_real_procs and puts a wrapper in every non-NULL slot. */",
              "void csan_wrap_proc_table(LPWSPPROC_TABLE t);",
              "/* Saves the caller's upcalls in csan_real_upcalls; `out` gets a wrapper per non-NULL upcall. */",
              "void csan_wrap_upcall_table(const WSPUPCALLTABLEEX *in, WSPUPCALLTABLEEX *out);",
              "/* The wrapper of extension `index` (function id - 33), calling csan_real_ext[index]. */",
              "void *csan_extension_wrapper(int index);",
              f"void csan_rec_{st['name']}_enter(csan_tls *t, {plist});",
              f"void csan_rec_{st['name']}_leave(csan_tls *t, uint64_t tsc, {ret_type} ret, {plist});",
              "", "#endif", ""]

    type_ids = {name: i for i, name, _ in schema.FIELD_TYPES}
    groups = {"proc": "CSAN_GROUP_PROC", "startup": "CSAN_GROUP_STARTUP", "ext": "CSAN_GROUP_EXT",
              "upcall": "CSAN_GROUP_UPCALL"}
    sc = [HEADER_NOTE, '#include "../include/csan_trace.h"', "", "typedef struct csan_schema_field {",
          "    const char *name;", "    unsigned char type;", "} csan_schema_field;", "",
          "typedef struct csan_schema_fn {", "    unsigned char present, group, starts_op, n_enter, n_leave;",
          "    const char *name;", "    csan_schema_field enter[12], leave[12];", "} csan_schema_fn;", "",
          "/* Indexed by function id; upcalls keep their `fields` in `leave`. */",
          "static const csan_schema_fn schema[80] = {"]

    def flist(fields):
        return "{" + ", ".join(f'{{"{f["name"]}", {type_ids[f["type"]]}}}' for f in fields) + "}"
    for fn in fns:
        enter = [] if fn["group"] == "upcall" else fn["enter"]
        leave = fn["fields"] if fn["group"] == "upcall" else fn["leave"]
        assert len(enter) <= 12 and len(leave) <= 12
        sc.append(f'    [{fn["id"]}] = {{1, {groups[fn["group"]]}, {1 if fn.get("starts_op") else 0}, {len(enter)}, '
                  f'{len(leave)}, "{fn["name"]}", {flist(enter)}, {flist(leave)}}},')
    sc += ["};", "",
           "static const csan_schema_fn *entry(unsigned f) { return f < 80 && schema[f].present ? &schema[f] : 0; }",
           "int csan_schema_has(unsigned f) { return entry(f) != 0; }",
           'const char *csan_schema_name(unsigned f) { return entry(f) ? schema[f].name : "?"; }',
           "int csan_schema_group(unsigned f) { return entry(f) ? schema[f].group : -1; }",
           "int csan_schema_starts_op(unsigned f) { return entry(f) ? schema[f].starts_op : 0; }",
           "int csan_schema_field_count(unsigned f, int kind) {",
           "    if (!entry(f)) return 0;",
           "    return kind == CSAN_KIND_ENTER ? schema[f].n_enter : schema[f].n_leave;",
           "}",
           "static const csan_schema_field *field(unsigned f, int kind, int i) {",
           "    if (i < 0 || i >= csan_schema_field_count(f, kind)) return 0;",
           "    return kind == CSAN_KIND_ENTER ? &schema[f].enter[i] : &schema[f].leave[i];",
           "}",
           "int csan_schema_field_type(unsigned f, int kind, int i) { return field(f, kind, i) ? field(f, kind, i)->type : 0; }",
           "const char *csan_schema_field_name(unsigned f, int kind, int i) {",
           '    return field(f, kind, i) ? field(f, kind, i)->name : "?";',
           "}", ""]
    return {"csan_wrappers.c": wrappers, "csan_generated.h": "\n".join(header), "csan_schema.c": "\n".join(sc)}


def main():
    check = "--check" in sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    stale = []
    for name, text in generate().items():
        path = os.path.join(OUT, name)
        old = open(path).read() if os.path.exists(path) else None
        if old != text:
            stale.append(name)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and stale:
        print("gen_c_wrappers: stale generated files: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
