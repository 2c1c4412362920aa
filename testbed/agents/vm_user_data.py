"""A VM's user data as the VM would read it: inline in its cloud-init volume (plain or
base64) or from the Secret the volume names, which may appear a little after the VM."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any, Final

from testbed.agents.calls import Cluster, JsonDict
from testbed.agents.userdata import UserDataError

USER_DATA_KEYS: Final = ("userdata", "userData")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def vm_user_data(management: Cluster, vm: JsonDict, namespace: str, wait: float) -> str:
    """The user data of a VM's cloud-init volume, inline or from its Secret (waited for up to
    ``wait`` seconds); "" when it has none."""
    spec = _dict(_dict(_dict(vm.get("spec")).get("template")).get("spec"))
    volumes = spec.get("volumes")
    for volume in volumes if isinstance(volumes, list) else []:
        volume = _dict(volume)
        source = _dict(volume.get("cloudInitNoCloud") or volume.get("cloudInitConfigDrive"))
        if not source:
            continue
        if isinstance(source.get("userData"), str):
            return str(source["userData"])
        if isinstance(source.get("userDataBase64"), str):
            return _decode(source["userDataBase64"], "userDataBase64")
        secret = _dict(source.get("secretRef") or source.get("userDataSecretRef")).get("name")
        if isinstance(secret, str) and secret:
            return await _secret_user_data(management, namespace, secret, wait)
    return ""


async def _secret_user_data(management: Cluster, namespace: str, name: str, wait: float) -> str:
    deadline = time.monotonic() + wait
    what = f"Secret {namespace}/{name}"
    while True:
        secret = await management.call(
            management.core.read_namespaced_secret,
            name,
            namespace,
            what=f"read {what}",
            missing_ok=True,
        )
        if secret is not None:
            data = _dict(secret.get("data"))
            for key in USER_DATA_KEYS:
                if isinstance(data.get(key), str):
                    return _decode(data[key], f"{what} key {key}")
            raise UserDataError(f"{what} has no key {' or '.join(USER_DATA_KEYS)}")
        if time.monotonic() >= deadline:
            raise UserDataError(f"{what} does not exist")
        await asyncio.sleep(min(0.2, wait))


def _decode(text: str, what: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise UserDataError(f"{what} is not base64 of UTF-8 text") from None
