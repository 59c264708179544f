"""Two gloo processes kept for the whole test session.

Spawning a pair per test cost about 3.7 s of imports each time, in every CI pass; one pair serves all.
"""

import queue
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _serve(rank: int, rendezvous: Path, tasks, done) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        while (task := tasks.get()) is not None:
            work, folder, args = task
            try:
                torch.save(work(rank, *args), folder / f"rank{rank}.pt")
                done.put((rank, None))
            except BaseException:  # the test reads it; the process stays for the next
                done.put((rank, traceback.format_exc()))
    finally:
        dist.destroy_process_group()


class TwoProcesses:
    """``run(work, folder, *args)`` calls ``work(rank, *args)`` in both processes and returns what each gave,
    by rank. A failure or a hang ends the pair, and the next call starts a new one."""

    def __init__(self, folder: Path, timeout_s: float = 300):
        self.folder, self.timeout_s, self.started = folder, timeout_s, 0
        self.workers: list = []

    def _start(self) -> None:
        self.started += 1
        context = mp.get_context("spawn")
        rendezvous = self.folder / f"rendezvous{self.started}"
        self.tasks = [context.SimpleQueue() for _ in range(2)]
        self.done = context.Queue()
        self.workers = [
            context.Process(target=_serve, args=(rank, rendezvous, self.tasks[rank], self.done), daemon=True)
            for rank in range(2)
        ]
        for worker in self.workers:
            worker.start()

    def run(self, work, folder: Path, *args) -> list:
        if not self.workers:
            self._start()
        for tasks in self.tasks:
            tasks.put((work, folder, args))
        failure = None
        try:
            for _ in range(2):
                rank, traceback_text = self.done.get(timeout=self.timeout_s)
                if traceback_text is not None:
                    failure = f"rank {rank}:\n{traceback_text}"
                    break  # the other rank may wait in a collective for ever
        except queue.Empty:
            failure = f"no answer from both processes within {self.timeout_s} s"
        if failure is not None:
            self.close(gracefully=False)
            raise AssertionError(failure)
        return [torch.load(folder / f"rank{rank}.pt", weights_only=False) for rank in range(2)]

    def close(self, gracefully: bool = True) -> None:
        if not self.workers:  # never started, or already ended by a failure
            return
        if gracefully:
            for tasks in self.tasks:
                tasks.put(None)
        for worker in self.workers:
            worker.join(timeout=10 if gracefully else 0)
            worker.kill()
            worker.join()
        self.workers = []
