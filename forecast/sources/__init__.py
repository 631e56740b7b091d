"""Sources: a raw object -> canonical observations and station metadata. One package per source
(``infoclimat``, ``wunderground``), listed in ``registry``; how objects hold their records
(files, Airbyte objects) in ``containers``."""
