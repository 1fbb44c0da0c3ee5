"""Tasks are data plus a format: a registry of named tasks (`registry`), and one module per format.

Registration is explicit and happens here, once, when the package is first imported: the formats that only
real tasks use, then the built-in generated tasks (`builtin_tasks`), then the
real intermediate tasks and XTREME / XTREME-R targets (`real_tasks`, whose data comes from files or the
hub). The catalogue modules only list their tasks; nothing registers as a side effect of an import. Metric
families, with their direction, are registered in one place: `study.metrics.METRIC_FAMILIES`.
"""

from study.tasks import builtin_tasks, real_tasks, registry

for _format in real_tasks.FORMATS:
    registry.register_format(_format)
for _task in (*builtin_tasks.TASKS, *real_tasks.TASKS):
    registry.register(_task)
