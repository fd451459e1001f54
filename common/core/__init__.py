"""The ground floor every other package stands on: config + options (one vocabulary, ``--help``), typed
errors and the entry guard, environment and run set-up (device, graph mode, seed), registries, whole-or-nothing
files and path checks, rank set-up. Imports nothing else of common/."""
