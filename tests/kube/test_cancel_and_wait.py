"""Stopping a component's background task."""

from __future__ import annotations

import asyncio

from autoscaler.kube.tasks import cancel_and_wait


async def test_a_running_task_is_cancelled_and_has_unwound_on_return() -> None:
    unwound = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwound.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    assert unwound.is_set()


async def test_nothing_and_a_finished_task_are_left_alone() -> None:
    async def done() -> None:
        return None

    task = asyncio.create_task(done())
    await task
    await cancel_and_wait(task)
    await cancel_and_wait(None)
    assert task.done() and not task.cancelled()
