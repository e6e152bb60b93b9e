"""Interleaved timing of several workloads, so that drift in machine load cancels in their ratios.

Every measurement records wall-clock time and the CPU time of the whole
process (all its threads). On a process pinned to one core, CPU time barely
moves when other processes compete for that core, so the CPU-time ratio is a
cross-check of the wall-clock ratio on a busy machine.
"""

import statistics
import time


def measure_rates(workload):
    """Run `workload()`, which returns the number of items it processed.

    Returns:
        (items per wall-clock second, items per CPU second of this process).
    """
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    items = workload()
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return items / wall, items / cpu


def interleaved_rates(workloads, rounds):
    """Measure every workload once per round, `rounds` times.

    The order rotates from round to round, so no workload always runs right
    after the same other one (which may have warmed or flushed caches for it).

    Returns:
        {name: {"wall": [items/s per round], "cpu": [items per CPU second per round]}}
    """
    names = list(workloads)
    rates = {name: {"wall": [], "cpu": []} for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall_rate, cpu_rate = measure_rates(workloads[name])
            rates[name]["wall"].append(wall_rate)
            rates[name]["cpu"].append(cpu_rate)
    return rates


def paired_ratio(rates, numerator, denominator):
    """Summarize numerator / denominator from interleaved rates, pairing the two by round.

    Returns a dict with the median wall-clock ratio, its range over the
    rounds, the median wall-clock throughput of each side, and the median
    ratio of CPU-time throughputs.
    """
    wall_ratios = _ratios(rates[numerator]["wall"], rates[denominator]["wall"])
    cpu_ratios = _ratios(rates[numerator]["cpu"], rates[denominator]["cpu"])
    return {
        "ratio": statistics.median(wall_ratios),
        "ratio_min": min(wall_ratios),
        "ratio_max": max(wall_ratios),
        "cpu_ratio": statistics.median(cpu_ratios),
        "numerator_rate": statistics.median(rates[numerator]["wall"]),
        "denominator_rate": statistics.median(rates[denominator]["wall"]),
        "rounds": len(wall_ratios),
    }


def _ratios(numerators, denominators):
    return [a / b for a, b in zip(numerators, denominators)]
