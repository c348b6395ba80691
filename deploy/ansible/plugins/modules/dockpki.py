#!/usr/bin/python
# -*- coding: utf-8 -*-
# Run one dockpki command with --json and report what it did, as Ansible expects.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dockpki
short_description: Run one dockpki command with --json, report its document and whether it changed anything
description:
  - Runs C(dockpki --json [--state DIR] [--passphrase-file FILE] ARGV...) as an argument list
    (never through a shell) and returns the JSON document dockpki printed as C(json).
  - C(changed) comes from the document itself, never from a guess (see C(changed)).
  - On a failure the task's message is dockpki's own one-line error (what is wrong and how to fix
    it), prefixed by the command.
  - dockpki never prints a private key, so nothing here needs C(no_log).
  - In check mode, commands that only read run as usual (C(status), C(inspect), C(verify),
    C(probe), C(audit), C(sans), C(plan), C(env), C(ca rotate status)); C(daemon-config) runs
    with C(--dry-run) added and reports whether C(daemon.json)
    would change (with C(--diff), the change); any other command is skipped, since whether it would
    change anything is not known without running it.
options:
  argv:
    description: The command and its options, after the global options, e.g. C([request, server, --dir, /etc/docker/pki]).
    type: list
    elements: str
    required: true
  bin:
    description: The dockpki binary.
    type: str
    default: dockpki
  state_dir:
    description: The CA state directory (C(--state)); only on the CA's host.
    type: str
  passphrase_file:
    description: The CA key's passphrase file (C(--passphrase-file)), for an encrypted CA key.
    type: str
  changed:
    description:
      - How C(changed) is decided.
      - C(field) the document's C(changed) boolean (C(request), C(sign), C(install), C(daemon-config));
        without one, whether any of its C(written) files changed.
      - C(written) whether any of the document's C(written) files changed.
      - C(never) a command that only reads (C(status), C(probe), C(inspect), C(ca rotate status)).
      - C(always) a command that runs only when there is something to do (C(ca rotate begin)).
    type: str
    choices: [field, written, never, always]
    default: field
  ok_rcs:
    description: Exit codes that are not a failure (C(status) and C(probe) use 3 and 4 for findings).
    type: list
    elements: int
    default: [0]
  environ:
    description: Extra environment variables for dockpki (e.g. C(DOCKER_CONFIG)).
    type: dict
    default: {}
author: dockpki
"""

EXAMPLES = r"""
- name: Make the daemon's key and request on the host
  dockpki.fleet.dockpki:
    bin: /usr/local/bin/dockpki
    argv: [request, server, --dir, /etc/docker/pki, --san, web1, --san, 192.0.2.10]
"""

RETURN = r"""
json:
  description: The JSON document dockpki printed (its schema per command in dockpki's docs/json.md).
  returned: always
  type: dict
exit_code:
  description: dockpki's exit code (not C(rc), which Ansible would take for a failure whenever it is not 0, also for an exit code C(ok_rcs) allows).
  returned: always
  type: int
cmd:
  description: The argument list run.
  returned: always
  type: list
"""

import json

from ansible.module_utils.basic import AnsibleModule


# The commands that write nothing (besides completing an update a killed run left, which any
# command opening the state does): the only ones run as they are in check mode. Decided by the
# command, never by the task's `changed`, which says how to report a run, not what it writes.
READ_ONLY = (
    ("status",),
    ("inspect",),
    ("verify",),
    ("probe",),
    ("audit",),
    ("sans",),
    ("plan",),
    ("env",),
    ("ca", "rotate", "status"),
)


def reads_only(argv):
    return any(tuple(argv[: len(c)]) == c for c in READ_ONLY)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            argv=dict(type="list", elements="str", required=True),
            bin=dict(type="str", default="dockpki"),
            state_dir=dict(type="str"),
            passphrase_file=dict(type="str", no_log=False),
            changed=dict(type="str", default="field", choices=["field", "written", "never", "always"]),
            ok_rcs=dict(type="list", elements="int", default=[0]),
            environ=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    argv = [p["bin"], "--json"]
    if p["state_dir"]:
        argv += ["--state", p["state_dir"]]
    if p["passphrase_file"]:
        argv += ["--passphrase-file", p["passphrase_file"]]
    argv += p["argv"]
    if module.check_mode and not reads_only(p["argv"]):
        if p["argv"][:1] == ["daemon-config"]:
            # The one writing command that can say what it would change: it runs with
            # --dry-run, which writes nothing, and reports changed from that (and the diff).
            # (dockpki refuses the flag twice; as the value of an option it would be refused
            # too, since clap takes no value starting with "--" there.)
            if "--dry-run" not in p["argv"]:
                argv.append("--dry-run")
        else:
            # Whether it would change anything is not known without running it: skipped, not
            # reported as unchanged.
            module.exit_json(changed=False, skipped=True, msg="check mode: dockpki %s not run (it writes files; only daemon-config can say what it would change)" % " ".join(p["argv"][:1]), cmd=argv, json={}, exit_code=0)

    env = dict((k, str(v)) for k, v in p["environ"].items())
    rc, out, err = module.run_command(argv, environ_update=env)
    try:
        doc = json.loads(out) if out.strip() else {}
    except ValueError:
        doc = {}
    result = dict(cmd=argv, exit_code=rc, json=doc, stderr=err)
    if rc not in p["ok_rcs"]:
        line = doc.get("error") if isinstance(doc, dict) else None
        if not line:
            line = (err.strip().splitlines() or ["exit code %d, no output" % rc])[-1]
        module.fail_json(msg="%s: %s" % (" ".join(argv[1:]), line), changed=False, **result)

    how = p["changed"]
    if module.check_mode and p["argv"][:1] == ["daemon-config"] and how not in ("never", "always"):
        # A dry run writes nothing, so its `written` says nothing: its `changed` does.
        how = "field"
    written = doc.get("written") if isinstance(doc, dict) else None
    wrote = any(w.get("changed", True) for w in (written or []) if isinstance(w, dict))
    if how == "never":
        changed = False
    elif how == "always":
        changed = True
    elif how == "written":
        changed = wrote
    elif isinstance(doc, dict) and isinstance(doc.get("changed"), bool):
        changed = doc["changed"]
    else:
        changed = wrote
    if module._diff and isinstance(doc, dict) and isinstance(doc.get("diff"), str):
        result["diff"] = dict(prepared=doc["diff"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
