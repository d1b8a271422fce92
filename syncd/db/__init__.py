"""The database: the MetaData and tables, migrations, engines. SQL lives here and nowhere else."""
