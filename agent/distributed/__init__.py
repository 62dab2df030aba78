"""Scale-out on Celery: ``xunjian serve`` dispatches each device of a run to its site's queue,
``xunjian worker --queue SITE`` inspects it and writes the result to the shared PostgreSQL
store, and one scheduler at a time (a PostgreSQL advisory lock) fires the plans.

- :mod:`.celery_app`: the Celery app and its delivery guarantees (acks late, one task in hand)
- :mod:`.dispatch`: sending a run's devices to their sites' queues
- :mod:`.worker`: the task a worker runs, and starting the worker
- :mod:`.leader`: the advisory-lock leader election of schedulers
- :mod:`.settle`: closing dispatched runs once every result is in (or at the run timeout)
"""
