# Micro-benchmarks of the quantized kernels (included from tools/CMakeLists.txt). Build the
# quant_bench target explicitly; it is not needed by the tests.
find_package(benchmark REQUIRED)
add_executable(quant_bench ${CMAKE_CURRENT_LIST_DIR}/quant_bench.cpp)
target_include_directories(quant_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(quant_bench PRIVATE engine_internal benchmark::benchmark)
# Prompt-processing projections on quantized weights: integer GEMM vs dequantize + sgemm.
add_executable(quant_gemm_bench ${CMAKE_CURRENT_LIST_DIR}/quant_gemm_bench.cpp)
target_include_directories(quant_gemm_bench PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(quant_gemm_bench PRIVATE engine_internal benchmark::benchmark PkgConfig::OPENBLAS)
