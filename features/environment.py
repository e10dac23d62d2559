"""behave hooks: options, the plan pass, evidence, teardown and reports. Steps live in ../steps.

Reports: a scenario with a fault step, tagged ``@report`` or with a "report is written" Then
step gets the fault tolerance report, written after teardown so it exists even when a check failed. Every executed
scenario samples its pods' CPU and memory (``resource_history.json``; see
`ftlib.reports.ResourceHistory`). With the Allure formatter (behave.ini), each scenario's test
case carries the load summaries, the reports, the resource summary and, when it did not pass,
the tail of every pod's log.
"""

import logging
import sys
import time
from pathlib import Path

from behave.model_core import Status

from ftlib import console, evidence, interrupts, runs
from ftlib.bdd import GherkinScenario
from ftlib.errors import SpecError
from ftlib.scenario import claim_evidence_folder, unique_slug
from ftlib.verdicts import judge_remaining
from ftlib.reports import FaultToleranceReport
from ftlib.reports.allure_results import (ENVIRONMENT_FILE, attach_scenario_evidence, attach_verdict,
                                          clear_earlier_results, results_dir)
from ftlib.reports.timeline_picture import TimelinePicture

REPORT_TAG = "report"

REPO_ROOT = Path(__file__).resolve().parent.parent


def before_all(context):
    # SIGTERM (CI timeouts, Kubernetes Jobs) takes the same path as Ctrl-C, so teardown runs;
    # SIGINT too, even when a parent started behave with SIGINT ignored (background jobs of scripts).
    interrupts.install()
    runs.report_leftovers()  # what runs killed without cleanup left (./run clean removes it)
    # one message and exit code 2, not behave's abort summary (the Allure formatter checked them first)
    context.ft_options = console.checked_options(context.config.userdata, REPO_ROOT)
    context.ft_run_started = time.monotonic()
    context.ft_selected = console.check_selection(context._runner.features, context.config)  # none selected: an error
    console.check_platform(context.ft_options)  # no cluster: one message before any scenario, not one per scenario
    if not (context.ft_options.dry_run or context.config.dry_run):  # a scenario will run: ./run clears the earlier results
        clear_earlier_results(results_dir(context.config.userdata, context.config.base_dir), keep=[ENVIRONMENT_FILE])
    context.ft_dry_run = console.DryRunTally()
    context.ft_used_names = set()
    console.setup_logging()  # the console stays clean; INFO goes to scenario.log
    context._runner.formatters.insert(0, console.StepErrorLines(context.config))  # a step's error: one line


def before_scenario(context, scenario):
    options = context.ft_options
    context.ft = GherkinScenario(scenario.name, options, REPO_ROOT, execute=False)
    if not _plan(context, scenario):
        # an undefined step: behave reports it and fails the scenario; the steps before it run
        # against a fresh planner, so they neither deploy nor complain about the plan pass
        context.ft = GherkinScenario(scenario.name, options, REPO_ROOT, execute=False)
        return
    if options.dry_run:
        _print_dry_run(context, scenario)
        return
    planned_fault = bool(context.ft.validator.faults)
    context.ft_planned_checks = context.ft.checks  # every check is judged, even if its step never runs
    context.ft = GherkinScenario(scenario.name, options, REPO_ROOT, execute=True,
                                 folder=_unique_folder(context, scenario))
    context.ft.reports.append(TimelinePicture())  # every scenario with a load gets its picture
    if REPORT_TAG in scenario.effective_tags or planned_fault:
        context.ft.reports.append(FaultToleranceReport())
    context.ft_started = time.monotonic()
    context.ft_evidence = claim_evidence_folder(context.ft.output_dir, scenario.name)
    context.ft_log = logging.FileHandler(evidence.inside(context.ft.output_dir / "scenario.log"))
    context.ft_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("ftlib").addHandler(context.ft_log)


def _print_dry_run(context, scenario):
    """Print the scenario's plan (and, on kubernetes, the manifests a run would apply), then skip it."""
    ft, options = context.ft, context.ft_options
    print(f"\nPLAN {scenario.name}\n{ft.describe_plan()}", file=sys.__stdout__, flush=True)
    if options.platform == "kubernetes" and ft.spec is not None:
        from ftlib.platform.kubernetes import manifests_yaml  # what the run would apply, exactly

        loads = list(ft.validator.load_configs.items())  # (name, config) of every load, in step order
        print(f"MANIFESTS {scenario.name}\n---\n{manifests_yaml(ft.spec, options, loads)}",
              file=sys.__stdout__, flush=True)
        if options.dry_run == "server":
            _server_dry_run(context, scenario, loads)
    context.ft_dry_run.add(ft)
    scenario.skip("dry run: planned, nothing deployed")


def _server_dry_run(context, scenario, loads) -> None:
    """The cluster's word on each manifest (``-D dry_run=server``), one line each."""
    from ftlib.platform.kubernetes import judge_plan

    for verdict in judge_plan(context.ft.spec, context.ft_options, loads):
        print(f"SERVER DRY RUN {verdict.describe()}", file=sys.__stdout__, flush=True)
        context.ft_dry_run.judged += 1
        if not verdict.ok:
            context.ft_dry_run.refused.append(f"{scenario.name}: {verdict.describe()}")


def _unique_folder(context, scenario) -> str:
    """Scenarios of one run never share an evidence folder (two features may reuse a name, two
    long names may share their first 120 characters). An outline row's folder is named from the
    outline and the row's values, not the example group's title (`console.evidence_name`)."""
    folder = unique_slug(console.evidence_name(scenario), context.ft_used_names)
    context.ft_used_names.add(folder)
    return folder


def _plan(context, scenario) -> bool:
    """Run every step of the scenario against a planning-only GherkinScenario; False (and
    nothing run) if a step is undefined. A plan error names the step it comes from."""
    registry = context._runner.step_registry
    steps = list(scenario.all_steps)
    matches = [registry.find_match(step) for step in steps]
    if None in matches:
        return False
    for step, match in zip(steps, matches):
        context._set_root_attribute("table", step.table)  # as behave itself does before a step
        context._set_root_attribute("text", step.text)
        try:
            match.run(context)
        except SpecError as error:
            raise SpecError(f"{step.location}, '{step.keyword} {step.name}': {error}") from None
    return True


def after_scenario(context, scenario):
    ft = getattr(context, "ft", None)
    if ft is None or not ft.execute or getattr(context, "ft_evidence", None) is None:
        return
    with interrupts.deferred("cleanup"):  # a second Ctrl-C waits until the cleanup is done
        _after_scenario(context, scenario, ft)


def _after_scenario(context, scenario, ft):
    stopped_by = next((step.exception for step in scenario.all_steps if step.exception is not None), None)
    problems = ft.finish(aborted=scenario.status != Status.passed, stopped_by=stopped_by)  # repeats of it: log only
    if ft.ctx is not None and not interrupts.interrupted():
        judge_remaining(context.ft_planned_checks, ft.ctx, "its step did not run: judged after the scenario stopped")
        console.list_failed_checks(scenario.all_steps, ft.ctx.verdicts)
    written, report_problems = ft.generate_reports()
    problems += report_problems
    if ft.ctx is not None:  # the scenario's Allure test case is still open in this hook
        for problem in attach_scenario_evidence(ft.ctx, written, failed=scenario.status != Status.passed,
                                                feature=scenario.feature.name):
            logging.getLogger("ftlib.reports").warning("%s", problem)  # an attachment never fails a scenario
    seconds = time.monotonic() - context.ft_started
    verdicts = ft.ctx.verdicts if ft.ctx is not None else []
    print("\n" + console.scenario_line(scenario.status.name, seconds, verdicts, ft.output_dir), file=sys.__stdout__,
          flush=True)
    if problems and interrupts.interrupted():  # one message: what an interrupt cut short is no error
        logging.getLogger("ftlib").warning("interrupted; cut short: %s", "; ".join(problems))
        print(f"  interrupted: {scenario.name}", file=sys.__stdout__, flush=True)
        problems = []
    logging.getLogger("ftlib").removeHandler(context.ft_log)
    context.ft_log.close()
    context.ft_evidence.release()
    context.ft_evidence = None
    if problems:  # each was logged once as an error line; raising here would print them again (HOOK-ERROR, captures)
        scenario.hook_failed = True  # the scenario ends in error: behave's exit code says so


def before_step(context, step):
    # every Then step is judged, even after one failed; a failed Given or When still stops the scenario
    context.scenario.continue_after_failed_step = step.step_type == "then"


def after_step(context, step):
    ft = getattr(context, "ft", None)
    if isinstance(step.exception, Exception) and not console.is_verdict(step.exception, step.exc_traceback):
        _keep_step_error(context, ft, step)
    if ft is None or ft.ctx is None or step.step_type != "then":
        return
    seen = getattr(context, "ft_verdicts_shown", 0) if getattr(context, "ft_verdicts_of", None) is ft else 0
    for verdict in ft.ctx.verdicts[seen:]:
        attach_verdict(verdict)  # the Allure step's detail: expected and observed, pass or fail
    context.ft_verdicts_of, context.ft_verdicts_shown = ft, len(ft.ctx.verdicts)
    if console.is_verdict(step.exception, step.exc_traceback):
        step.exc_traceback = None  # a failure reads from its message and evidence, not a traceback


def _keep_step_error(context, ft, step) -> None:
    """A step's error: its traceback into scenario.log, one line on the console (`console.error_line`),
    and, for an error raised on purpose, no traceback in the Allure step either."""
    handler = getattr(context, "ft_log", None) if getattr(context, "ft_evidence", None) is not None else None
    if handler is not None:
        handler.handle(console.log_record(step, step.exception, step.exc_traceback))
    setattr(step, console.ERROR_LINE, console.error_line(step.exception, ft.output_dir / "scenario.log"
                                                         if handler is not None and ft is not None else None))
    if console.raised_on_purpose(step.exception):
        step.exc_traceback = None


def after_all(context):
    tally = getattr(context, "ft_dry_run", None)
    if tally is not None and tally.scenarios:
        print(f"\n{tally.line()}", file=sys.__stdout__, flush=True)
        if tally.refused:
            console.exit_with("the cluster refused or pruned these manifests:\n  " + "\n  ".join(tally.refused), 1)
    elif getattr(context, "ft_selected", None) and not context.config.dry_run:
        _print_run_summary(context)


def _print_run_summary(context) -> None:
    """The run's last lines: wall time, evidence, report, counts (`console.run_summary`)."""
    options = context.ft_options
    results = results_dir(context.config.userdata, context.config.base_dir)
    lines = console.run_summary(console.RunTally.of(context.ft_selected), time.monotonic() - context.ft_run_started,
                                options.output_path(REPO_ROOT), results, REPO_ROOT)
    print("\n" + "\n".join(lines), file=sys.__stdout__, flush=True)
