"""The part of every translation method that is not its model: the callbacks of a run and its finish.

A method module (`soundtransform.methods`) provides ``make_datasets``,
``build``, ``callbacks`` and ``finish``.  The last two are the same skeleton
for every method that exports generators, so a `GeneratorMethod` writes them
once; a method only says which generators it saves and exports (`Output`),
how its examples are drawn, and what else its exports record.

Each epoch:

1. the learning-rate schedule, if any (`schedules`);
2. with ``select_by="judge"``, a `selection.SelectByJudge` per output (and
   per raw network beside a weight average), first, so its scores join the
   epoch's logs;
3. every output saved to the run folder, and the epoch's logs
   (`callbacks.SaveGenerators`);
4. example spectrograms to TensorBoard (`callbacks.ExampleSpectrograms`).

At the end (`finish`): every output saved, the selected epoch picked
(`selection.selected_generator`), and exported with its metadata
(`artifacts.export_metadata`) as ``METHOD_SOURCE_to_TARGET``.
"""

import collections
import os

from soundtransform import export
from soundtransform.training import artifacts, runs
from soundtransform.training.callbacks import ExampleSpectrograms, SaveGenerators, example_images
from soundtransform.training.selection import (judge_selection, selected_generator, selects_by_judge,
                                               validation_waveforms)

Output = collections.namedtuple("Output", "filename source target network raw name instruments")
Output.__doc__ = """One generator a run saves, judges and exports.

``filename`` (in the run folder), ``source`` and ``target`` (its direction);
``network(model)``, the `keras.Model` saved, judged and exported (a weight
average when there is one); ``raw(model)`` or None, the trained network
scored beside it (logged as ``raw``, never kept); ``name``, what the
selection logs call its score; ``instruments``, the valid-split source
instruments the judge hears it convert.
"""


class GeneratorMethod:
    """The callbacks and the finish of a method that exports generators.

    Subclasses set `name` (the exports' prefix) and implement `outputs`;
    `translate`, `schedules` and `metadata` have defaults.
    """

    name = None

    def outputs(self, config, info):
        """The run's `Output` list, for its configuration and data description ``info``."""
        raise NotImplementedError

    def translate(self, model, images):
        """``{name: images}`` of the example pictures: the exported network's outputs."""
        return {"output": model.generator_to_export()(images, training=False).numpy()}

    def schedules(self, model, config):
        """Learning-rate callbacks, run before the others each epoch; none by default."""
        return []

    def metadata(self, config, info):
        """What else the method's exports record, beside `artifacts.export_metadata`."""
        return {}

    @staticmethod
    def phase(config):
        """The exports' inversion: ``config["phase"]``, or the input's phase for methods without the setting."""
        return config.get("phase", "source")

    def callbacks(self, model, config, run_dir, valid, info):
        """The run's callbacks, in the order of the module docstring."""
        outputs = self.outputs(config, info)
        found = list(self.schedules(model, config))
        if selects_by_judge(config):
            for out in outputs:
                waveforms, note_lists = validation_waveforms(info["root"], out.source, config, out.instruments,
                                                             with_notes=True)
                kept = judge_selection(config, run_dir, waveforms, out.target, out.network,
                                       runs.best_file(out.filename), name=out.name, note_lists=note_lists,
                                       phase=self.phase(config))
                found.append(kept)
                if out.raw is not None:  # what the average adds, epoch by epoch (``val_judged_raw``)
                    found.append(judge_selection(config, run_dir, waveforms, out.target, out.raw, None,
                                                 name="raw", note_lists=note_lists, phase=self.phase(config)))
        found.append(SaveGenerators(lambda m: {out.filename: out.network(m) for out in outputs}, run_dir))
        if valid is not None and config.get("examples"):
            found.append(ExampleSpectrograms(example_images(valid, config["examples"]), self.translate,
                                             os.path.join(run_dir, "logs")))
        return found

    def finish(self, model, config, info, run_dir):
        """Save, select and export every output.

        Returns
        -------
        dict
            One output: ``generator`` (its file), ``export`` (the version
            folder) and ``selected`` (the selection record, or None).
            Several: ``generator_A_to_B`` and ``export_A_to_B`` per direction.
        """
        outputs = self.outputs(config, info)
        result = {}
        for out in outputs:
            path = os.path.join(run_dir, out.filename)
            generator = out.network(model)
            runs.save_generator(generator, path)
            metadata = artifacts.export_metadata(config, info, run_dir, out.source, out.target, path)
            metadata.update(self.metadata(config, info))
            generator = selected_generator(generator, config, run_dir, out.filename, metadata)
            version_dir = export.export_generator(generator, f"{self.name}_{out.source}_to_{out.target}", metadata,
                                                  base_dir=config.get("export_dir"), phase=self.phase(config))
            if len(outputs) == 1:
                result.update(generator=path, export=version_dir, selected=metadata.get("selected"))
            else:
                result.update({f"generator_{out.source}_to_{out.target}": path,
                               f"export_{out.source}_to_{out.target}": version_dir})
        return result
